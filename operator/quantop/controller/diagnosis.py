"""Why a candidate is not becoming Available, read from its pods, with the guide's troubleshooting hints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from quantop.api import Reason

#: The guide's "out of memory" troubleshooting, in the words a user can act on.
OOM_HINT = (
    "quantization may not be applied or the KV cache is too large: lower serving.maxTotalTokens "
    "(or set maxBatchTotalTokens), use a 4-bit method (bitsandbytes-nf4, awq, gptq) or a larger GPU"
)


@dataclass(frozen=True)
class PodProblem:
    reason: str
    message: str


def _container_statuses(pod: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    status = pod.get("status") or {}
    yield from status.get("initContainerStatuses") or []
    yield from status.get("containerStatuses") or []


def diagnose_pod(pod: Mapping[str, Any]) -> PodProblem | None:
    """The first fatal problem of one pod, or None if it may still come up."""
    name = (pod.get("metadata") or {}).get("name", "?")
    for cs in _container_statuses(pod):
        last = (cs.get("lastState") or {}).get("terminated") or {}
        state = cs.get("state") or {}
        terminated = state.get("terminated") or {}
        waiting = state.get("waiting") or {}
        if "OOMKilled" in (terminated.get("reason"), last.get("reason")):
            return PodProblem(Reason.OOM_KILLED, f"pod {name} was OOMKilled: {OOM_HINT}")
        if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
            return PodProblem(
                Reason.IMAGE_PULL_BACK_OFF,
                f"pod {name} cannot pull its image ({waiting.get('message', waiting['reason'])}): "
                "check spec.serving.image and the registry credentials",
            )
        if waiting.get("reason") == "CreateContainerConfigError":
            return PodProblem(
                Reason.INVALID_SPEC,
                f"pod {name}: {waiting.get('message', 'container config error')}: "
                "check that spec.model.tokenSecretRef names an existing Secret and key",
            )
        if waiting.get("reason") == "CrashLoopBackOff":
            detail = last.get("message") or last.get("reason") or "see `kubectl logs`"
            return PodProblem(
                Reason.CRASH_LOOP_BACK_OFF,
                f"pod {name} is crash-looping (exit {last.get('exitCode', '?')}: {str(detail)[:200]}): "
                "check the model id, revision and that the method suits this checkpoint",
            )
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return PodProblem(
                Reason.UNSCHEDULABLE,
                f"pod {name} cannot be scheduled ({cond.get('message', 'no node fits')}): "
                "no node of this GPU profile has free GPUs; add nodes to the pool or lower gpu.count/replicas",
            )
    return None


def diagnose(pods: Iterable[Mapping[str, Any]]) -> PodProblem | None:
    for pod in pods:
        problem = diagnose_pod(pod)
        if problem is not None:
            return problem
    return None


def termination_message(pod: Mapping[str, Any], container: str = "validate") -> str | None:
    """The termination message a finished container wrote (the validation result)."""
    for cs in _container_statuses(pod):
        if cs.get("name") == container:
            terminated = (cs.get("state") or {}).get("terminated") or {}
            message = terminated.get("message")
            return str(message) if message else None
    return None
