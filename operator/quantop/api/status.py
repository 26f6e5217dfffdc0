"""The QuantizedModel status: what `kubectl get/describe qm` shows.

`ValidationResults` is also the compact result a validation Job writes to its termination
message, so the operator copies it into status without translation.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .conditions import Condition
from .selection import SelectionStatus


class Phase(StrEnum):
    PENDING = "Pending"
    #: The candidate cannot be validated yet (its baseline.modelRef is not promoted): it holds no GPU.
    QUEUED = "Queued"
    DEPLOYING = "Deploying"
    VALIDATING = "Validating"
    AWAITING_PROMOTION = "AwaitingPromotion"
    PROMOTED = "Promoted"
    FAILED = "Failed"
    DEGRADED = "Degraded"


class Verdict(StrEnum):
    PASSED = "Passed"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"
    #: A selection's candidate stopped because its p95 is surely above the figure to beat (not a gate failure).
    CANNOT_WIN = "CannotWin"


class GateKind(StrEnum):
    """Which condition a gate feeds: LoadTestPassed or AccuracyPassed."""

    LOAD = "load"
    ACCURACY = "accuracy"


class RevisionVerdict(StrEnum):
    """What became of one revision, as the history records it."""

    PASSED = "Passed"
    INCONCLUSIVE = "Inconclusive"
    FAILED = "Failed"
    ERROR = "Error"
    ABANDONED = "Abandoned"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"


class _Status(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Compatibility(StrEnum):
    SUPPORTED = "Supported"
    CAVEATS = "Caveats"
    UNSUPPORTED = "Unsupported"


class PlanSummary(_Status):
    """The planner's verdict for the spec's method, GPU and token limits."""

    compatibility: Compatibility = Field(description="Supported, Caveats or Unsupported.")
    weights_gi_b: float = Field(alias="weightsGiB", description="Weight memory per replica, GiB.")
    kv_cache_gi_b: float = Field(alias="kvCacheGiB", description="KV cache for the token budget, GiB.")
    overhead_gi_b: float = Field(alias="overheadGiB", default=0.0, description="CUDA context and activations, GiB.")
    gpu_memory_gi_b: float = Field(alias="gpuMemoryGiB", description="GPU memory per replica (all GPUs), GiB.")
    fits: bool = Field(description="Weights + KV cache + overhead fit with headroom.")
    relative_speed: float | None = Field(default=None, description="Expected speed vs unquantized (guide/TGI).")
    note: str = Field(default="", description="Caveat or reason in words.")


class GateResult(_Status):
    """One gate of a validation, with the measured value and the threshold."""

    name: str = Field(description="Gate name, e.g. p95LatencyMs, accuracy, errorRate.")
    passed: bool = Field(description="Whether the gate passed.")
    measured: float | None = Field(default=None, description="Measured value.")
    threshold: float | None = Field(default=None, description="Threshold from the spec.")
    message: str = Field(default="", description="e.g. 'p95 6210 ms > SLO 6000 ms (+3.5%)'.")
    verdict: Verdict | None = Field(default=None, description="Passed, Failed or Inconclusive (unset: from passed).")
    kind: GateKind | None = Field(default=None, description="load or accuracy (unset in older results).")
    estimate: float | None = Field(default=None, description="Point estimate of the gated quantity.")
    lower: float | None = Field(default=None, description="Lower confidence bound (at validation.confidence).")
    upper: float | None = Field(default=None, description="Upper confidence bound (at validation.confidence).")
    n: int | None = Field(default=None, description="Observations behind the bounds (requests, batches or items).")
    losses: int | None = Field(default=None, description="Paired accuracy: items the baseline got and this did not.")
    gains: int | None = Field(default=None, description="Paired accuracy: items this got and the baseline did not.")


class ItemOutcomes(_Status):
    """Per-item accuracy results, compact, so a later candidate is paired with them without asking again.

    Kept in the results (the baseline's status and the Job's termination message) because that is
    what the operator already reads for a baseline.modelRef: 400 items take 68 characters.
    """

    dataset: str = Field(description="Fingerprint of the dataset version (sha256 of its ids, prompts, answers).")
    seed: int = Field(description="Seed of the draw of items.")
    items: int = Field(description="Items drawn.")
    correct: str = Field(description="Base64 bitset in draw order: bit i set when item i was answered right.")


class ValidationResults(_Status):
    """Measured results of one validation run (also the Job's termination message)."""

    verdict: Verdict | None = Field(
        default=None,
        description="Passed, Failed, Inconclusive, Error, or CannotWin (a selection candidate stopped early).",
    )
    revision: str | None = Field(default=None, description="Revision the results belong to.")
    p50_ms: float | None = Field(default=None, description="Median end-to-end latency, ms.")
    p95_ms: float | None = Field(default=None, description="p95 end-to-end latency, ms.")
    p98_ms: float | None = Field(default=None, description="p98 end-to-end latency, ms.")
    p99_ms: float | None = Field(default=None, description="p99 end-to-end latency, ms.")
    ttft_p95_ms: float | None = Field(default=None, description="p95 time to first token, ms.")
    itl_p95_ms: float | None = Field(default=None, description="p95 inter-token latency, ms.")
    requests_per_second: float | None = Field(default=None, description="Completed requests per second.")
    output_tokens_per_second: float | None = Field(default=None, description="Generated tokens per second.")
    error_rate: float | None = Field(default=None, description="Fraction of failed requests.")
    requests: int | None = Field(default=None, description="Requests measured (after warm-up).")
    accuracy: float | None = Field(default=None, description="Accuracy on the held-out set (0..1).")
    accuracy_ci_low: float | None = Field(default=None, description="95% confidence interval, low end.")
    accuracy_ci_high: float | None = Field(default=None, description="95% confidence interval, high end.")
    accuracy_samples: int | None = Field(default=None, description="Examples scored.")
    baseline_accuracy: float | None = Field(default=None, description="Baseline the drop is measured against.")
    accuracy_drop: float | None = Field(default=None, description="Baseline accuracy minus measured accuracy.")
    cost_per_million_tokens: float | None = Field(default=None, description="USD per 1M output tokens.")
    size_reduction: float | None = Field(default=None, description="Baseline weight size / this weight size.")
    speedup: float | None = Field(default=None, description="Baseline median latency / this median latency.")
    gates: list[GateResult] = Field(default_factory=list, description="Every gate evaluated.")
    outcomes: ItemOutcomes | None = Field(default=None, description="Per-item accuracy results, for pairing.")
    message: str = Field(default="", description="One-line verdict.")
    finished_at: str | None = Field(default=None, description="When the validation finished (RFC 3339).")


class RevisionRecord(_Status):
    """One entry of the revision history."""

    revision: str = Field(description="Revision hash.")
    method: str = Field(description="Quantization method of that revision.")
    verdict: RevisionVerdict = Field(
        description="Passed, Inconclusive, Failed, Error, Abandoned, Promoted or RolledBack."
    )
    p95_ms: float | None = Field(default=None, description="p95 latency measured, ms.")
    accuracy: float | None = Field(default=None, description="Accuracy measured.")
    message: str = Field(default="", description="Why.")
    time: str = Field(default="", description="When (RFC 3339).")


class AnnotationRequest(_Status):
    """A one-shot annotation as the operator saw it, bound to the revision it applies to.

    Kept until the annotation is gone from the object, so a value left behind by a failed clear
    is recognised as already handled and never acts twice or on another revision.
    """

    annotation: str = Field(description="quantop.dev/promote or quantop.dev/rollback.")
    value: str = Field(description="The annotation's value when it was first seen.")
    revision: str | None = Field(default=None, description="The revision it applies to.")
    consumed: bool = Field(default=False, description="Acted on (or refused): the same value never acts again.")
    time: str = Field(default="", description="When it was first seen (RFC 3339).")


class GuardState(StrEnum):
    """Where the production guard of one promoted revision stands (docs/guard.md)."""

    GUARDING = "Guarding"
    #: Prometheus answered without data for the revision: neither passing nor rolling back.
    NO_DATA = "NoData"
    #: Prometheus could not be read: neither passing nor rolling back.
    UNREACHABLE = "Unreachable"
    PASSED = "Passed"
    ROLLED_BACK = "RolledBack"
    #: A signal breached but the previous revision's Deployment is gone: nothing to return to, it keeps serving.
    BREACHED = "Breached"
    #: Ended without a verdict: promotion.guard removed, a manual rollback, or the revision no longer stable.
    ENDED = "Ended"


class GuardStatus(_Status):
    """The production guard of the last promoted revision, kept in status so a restarted operator continues it."""

    revision: str = Field(description="The promoted revision the guard judges.")
    started_at: str = Field(description="When the guard started: the promotion (RFC 3339).")
    state: GuardState = Field(description="Guarding, NoData, Unreachable, Passed, RolledBack, Breached or Ended.")
    message: str = Field(default="", description="The last verdict in words: signal, value and threshold.")
    checked_at: str | None = Field(default=None, description="When the guard last judged (RFC 3339).")


class RollbackState(StrEnum):
    """Where a rollback to the previous revision stands (docs/fault-tolerance.md, "Rollback in two steps")."""

    #: The previous revision is scaling up; the stable Service stays on the current one until it is available.
    ROLLING_BACK = "RollingBack"
    #: The stable Service serves the previous revision again.
    ROLLED_BACK = "RolledBack"
    #: The previous revision did not become available in time (or the rollback was overtaken): nothing switched.
    ABANDONED = "Abandoned"


class RollbackStatus(_Status):
    """The last rollback, kept in status so a restarted operator neither repeats it nor switches early."""

    from_revision: str = Field(description="The revision rolled back from (stable when the rollback began).")
    to_revision: str = Field(description="The previous revision the stable Service returns to.")
    state: RollbackState = Field(description="RollingBack, RolledBack or Abandoned.")
    origin: str = Field(description="annotation (quantop.dev/rollback) or guard (promotion.guard).")
    started_at: str = Field(description="When the rollback began (RFC 3339); serving.startupTimeout bounds it.")
    finished_at: str | None = Field(default=None, description="When it switched or was abandoned (RFC 3339).")
    message: str = Field(default="", description="What it waits for, or why it ended.")


class QuantizedModelStatus(_Status):
    """Observed state of a QuantizedModel."""

    phase: Phase = Field(default=Phase.PENDING, description="Coarse lifecycle phase.")
    message: str = Field(default="", description="What is happening and what to do, in one line.")
    observed_generation: int | None = Field(default=None, description="Last .metadata.generation reconciled.")
    stable_revision: str | None = Field(default=None, description="Revision behind the stable Service.")
    candidate_revision: str | None = Field(default=None, description="Revision being deployed or validated.")
    candidate_phase: Phase | None = Field(
        default=None,
        description=(
            "Phase of the spec's revision while it is not the stable one (Queued, Deploying, Validating, "
            "AwaitingPromotion, Failed); unset once it serves. `phase` says the same, `stableRevision` what serves."
        ),
    )
    previous_revision: str | None = Field(default=None, description="Revision promoted before the stable one.")
    promoted_at: str | None = Field(default=None, description="When the stable revision was promoted (RFC 3339).")
    conditions: list[Condition] = Field(default_factory=list, description="Kubernetes-style conditions.")
    plan: PlanSummary | None = Field(default=None, description="Planner verdict for the current spec.")
    results: ValidationResults | None = Field(default=None, description="Results of the stable revision.")
    candidate_results: ValidationResults | None = Field(default=None, description="Results of the last candidate.")
    history: list[RevisionRecord] = Field(default_factory=list, description="Recent revisions and their verdicts.")
    selection: SelectionStatus | None = Field(
        default=None, description="The `method: auto` selection: the guide's table for this model, and its winner."
    )
    requests: list[AnnotationRequest] = Field(
        default_factory=list, description="One-shot annotations seen and the revision each applies to."
    )
    baseline_wait_started: str | None = Field(
        default=None, description="When the candidate began waiting for its baseline.modelRef (RFC 3339)."
    )
    guard: GuardStatus | None = Field(
        default=None, description="The production guard of the last promoted revision (promotion.guard)."
    )
    rollback: RollbackStatus | None = Field(
        default=None, description="The last rollback: scaling the previous revision up, switched, or abandoned."
    )
