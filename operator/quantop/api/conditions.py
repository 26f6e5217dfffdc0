"""Status conditions, following the Kubernetes API conventions.

One :func:`set_condition` moves ``lastTransitionTime`` only when ``status`` changes, so a
reconcile that finds nothing new produces an identical list and therefore no write.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .timestamps import now_rfc3339


class ConditionType(StrEnum):
    """Every condition type quantop sets on a QuantizedModel."""

    #: The stable Service points at a promoted revision with ready pods.
    READY = "Ready"
    #: The method runs on the GPU and the model fits in its memory (planner verdict).
    COMPATIBLE = "Compatible"
    #: The candidate Deployment has its replicas available.
    CANDIDATE_AVAILABLE = "CandidateAvailable"
    #: The candidate met the latency, throughput and error SLOs under load.
    LOAD_TEST_PASSED = "LoadTestPassed"
    #: The candidate met the accuracy gate on the held-out set.
    ACCURACY_PASSED = "AccuracyPassed"
    #: The stable Service serves the candidate revision.
    PROMOTED = "Promoted"
    #: The last reconcile's writes all reached the API server (False names the one that did not).
    SYNCED = "Synced"
    #: The production guard judged the promoted revision: Unknown while guarding, True passed, False breached.
    GUARD_PASSED = "GuardPassed"


class Reason(StrEnum):
    """CamelCase machine reasons; the message next to them carries the numbers and the fix."""

    PLANNED = "Planned"
    SUPPORTED_WITH_CAVEATS = "SupportedWithCaveats"
    INVALID_SPEC = "InvalidSpec"
    METHOD_UNSUPPORTED_ON_GPU = "MethodUnsupportedOnGPU"
    REQUIRES_PREQUANTIZED_MODEL = "RequiresPrequantizedModel"
    INSUFFICIENT_GPU_MEMORY = "InsufficientGPUMemory"
    UNKNOWN_GPU_TYPE = "UnknownGPUType"
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"  # spec.serving.image outside config.allowedImages
    SECRET_NOT_ALLOWED = "SecretNotAllowed"  # model.tokenSecretRef outside config.allowedSecrets
    SELECTION_REFUSED = "SelectionRefused"  # method: auto with no candidate that can run
    UNKNOWN_MODEL_ARCHITECTURE = "UnknownModelArchitecture"
    RESOURCES_APPLIED = "ResourcesApplied"
    DEPLOYING = "Deploying"
    AVAILABLE = "Available"
    DEPLOYMENT_TIMEOUT = "DeploymentTimeout"
    OOM_KILLED = "OOMKilled"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    UNSCHEDULABLE = "Unschedulable"
    VALIDATING = "Validating"
    GATES_PASSED = "GatesPassed"
    GATE_FAILED = "GateFailed"
    GATE_INCONCLUSIVE = "GateInconclusive"
    VALIDATION_ERROR = "ValidationError"
    AWAITING_PROMOTION = "AwaitingPromotion"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    #: The guard watches the promoted revision (GuardPassed Unknown).
    GUARDING = "Guarding"
    #: The guard's duration ended with every signal read and none breached.
    GUARD_PASSED = "GuardPassed"
    #: A production signal breached its SLO: the previous revision is back (message: signal and value).
    GUARD_BREACHED = "GuardBreached"
    #: Prometheus answered without data for the revision: the guard neither passes nor rolls back.
    GUARD_NO_DATA = "GuardNoData"
    #: The guard ended without a verdict: promotion.guard removed, a manual rollback, or the revision no longer stable.
    GUARD_ENDED = "GuardEnded"
    #: Prometheus could not be read: the guard neither passes nor rolls back.
    PROMETHEUS_UNREACHABLE = "PrometheusUnreachable"
    NOT_PROMOTED = "NotPromoted"
    NO_STABLE_REVISION = "NoStableRevision"
    STABLE_UNAVAILABLE = "StableUnavailable"
    #: baseline.modelRef was not promoted within validation.baselineTimeout (the candidate holds no GPU).
    BASELINE_TIMEOUT = "BaselineTimeout"
    API_ERROR = "APIError"
    SYNCED = "Synced"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(BaseModel):
    """A Kubernetes-style condition."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    type: str = Field(description="Condition type, e.g. Ready, Compatible, LoadTestPassed.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase machine-readable reason.")
    message: str = Field(default="", description="Human-readable explanation with measured values and the fix.")
    last_transition_time: str = Field(default="", description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this condition was computed for."
    )


def set_condition(
    conditions: list[Condition],
    type: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: str | None = None,
) -> list[Condition]:
    """A new list with the condition of ``type`` set; transition time moves only on a status change."""
    if isinstance(status, bool):
        status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    old = next((c for c in conditions if c.type == type), None)
    changed = old is None or old.status != status
    updated = Condition(
        type=type,
        status=status,
        reason=str(reason),
        message=message,
        last_transition_time=(now or now_rfc3339()) if changed or old is None else old.last_transition_time,
        observed_generation=observed_generation,
    )
    result = [c for c in conditions if c.type != type]
    result.append(updated)
    order = {t.value: i for i, t in enumerate(ConditionType)}
    return sorted(result, key=lambda c: (order.get(c.type, len(order)), c.type))


def get_condition(conditions: list[Condition], type: str) -> Condition | None:
    return next((c for c in conditions if c.type == type), None)
