"""Reading a finished validation Job: its result, the gate conditions, and comparisons with the baseline."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from quantop.api import ConditionType, GateResult, PlanSummary, Reason, ValidationResults, Verdict
from quantop.resources import ModelContext

from .diagnosis import termination_message
from .observe import Baseline, job_finished

#: Set by validation results from issue 11 on; older results say neither and fall back to the name rule.
REASON_INCONCLUSIVE = str(getattr(Reason, "GATE_INCONCLUSIVE", "GateInconclusive"))


def job_results(
    ctx: ModelContext, job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], revision: str
) -> ValidationResults | None:
    """The finished Job's result from its pod's termination message; None while it runs."""
    if not job_finished(job):
        return None
    for pod in pods:
        message = termination_message(pod)
        if message:
            try:
                return ValidationResults.model_validate_json(message).model_copy(update={"revision": revision})
            except ValidationError:
                return ValidationResults(
                    verdict=Verdict.ERROR, revision=revision, message=f"unreadable validation result: {message[:200]}"
                )
    st = job.get("status") or {}
    failed: Mapping[str, Any] = next((c for c in st.get("conditions") or [] if c.get("type") == "Failed"), {})
    name = job["metadata"]["name"]
    if failed.get("reason") == "DeadlineExceeded":
        why = (
            f"validation Job exceeded validation.timeout ({ctx.spec.validation.timeout}): "
            "shorten the load test or raise the timeout"
        )
    else:
        why = (
            f"validation Job failed without a result ({failed.get('reason', 'no reason')}: "
            f"{failed.get('message', '')}): see `kubectl logs job/{name}`"
        )
    return ValidationResults(verdict=Verdict.ERROR, revision=revision, message=why)


def compare_with_baseline(
    results: ValidationResults, plan: PlanSummary | None, baseline: Baseline
) -> ValidationResults:
    """Size reduction and speed-up against the baseline model's promoted results, when there is one."""
    update: dict[str, Any] = {}
    base = baseline.results
    if base is not None and base.p50_ms and results.p50_ms:
        update["speedup"] = round(base.p50_ms / results.p50_ms, 3)
    if baseline.plan is not None and plan is not None and plan.weights_gi_b:
        update["size_reduction"] = round(baseline.plan.weights_gi_b / plan.weights_gi_b, 3)
    return results.model_copy(update=update)


def is_accuracy(gate: GateResult) -> bool:
    """A gate's condition: its `kind` when the Job says it, else the name rule older results follow."""
    kind = getattr(gate, "kind", None)
    if kind is not None:
        return str(kind) == "accuracy"
    return gate.name.startswith("accuracy")


def is_inconclusive(gate: GateResult) -> bool:
    return str(getattr(gate, "verdict", None) or "") == "Inconclusive"


SetCondition = Callable[[ConditionType, bool, str, str], None]


def gate_conditions(condition: SetCondition, results: ValidationResults) -> None:
    """LoadTestPassed and AccuracyPassed from the gates of each kind."""
    load = [g for g in results.gates if not is_accuracy(g)]
    acc = [g for g in results.gates if is_accuracy(g)]
    for ctype, gates in ((ConditionType.LOAD_TEST_PASSED, load), (ConditionType.ACCURACY_PASSED, acc)):
        failed = [g for g in gates if not g.passed and not is_inconclusive(g)]
        undecided = [g for g in gates if is_inconclusive(g)]
        if results.verdict == Verdict.ERROR and not gates:
            condition(ctype, False, Reason.VALIDATION_ERROR, results.message)
        elif failed:
            condition(ctype, False, Reason.GATE_FAILED, "; ".join(g.message or g.name for g in failed))
        elif undecided:
            condition(ctype, False, REASON_INCONCLUSIVE, "; ".join(g.message or g.name for g in undecided))
        elif gates:
            condition(ctype, True, Reason.GATES_PASSED, "; ".join(g.message or g.name for g in gates))


def failed_condition(results: ValidationResults) -> ConditionType:
    """The condition a failed validation is reported under: AccuracyPassed when only accuracy gates failed."""
    failed = [g for g in results.gates if not g.passed]
    if failed and all(is_accuracy(g) for g in failed):
        return ConditionType.ACCURACY_PASSED
    return ConditionType.LOAD_TEST_PASSED


def failure_message(results: ValidationResults) -> str:
    failed = [g.message or g.name for g in results.gates if not g.passed]
    return "; ".join(failed) or results.message or "validation failed"
