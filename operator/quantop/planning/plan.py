"""Assess every method for a model on a GPU, and recommend one per objective (the guide's decision matrix)."""

from __future__ import annotations

from dataclasses import dataclass

from quantop.api import (
    Compatibility,
    GpuProfile,
    Objective,
    PlanSummary,
    QuantizationMethod,
    QuantizedModelSpec,
    Reason,
)
from quantop.api.spec import TGI_INSTEAD_OF_VLLM, AnyMethod, Engine

from .advice import Budget, memory_message, refusal_message, relative_speed
from .catalog import GpuSpec, PlanningError, resolve_gpu
from .compatibility import Level, compatibility
from .memory import BITS, DEFAULT_PREFILL_TOKENS, DEFAULT_SEQUENCES
from .models import ModelInfo

Q = QuantizationMethod
#: `method: auto` names no method: each of quantization.candidates is planned as a spec of its own.
AUTO_HAS_NO_SINGLE_PLAN = "quantization.method auto has no single plan: plan each of quantization.candidates"

#: The guide's decision matrix, in order of preference.
DECISION_MATRIX: dict[Objective, list[QuantizationMethod]] = {
    Objective.LATENCY: [Q.FP8, Q.EETQ],
    Objective.MEMORY: [Q.BITSANDBYTES_NF4],
    Objective.COST: [Q.EETQ, Q.BITSANDBYTES, Q.FP8],
    Objective.EDGE: [Q.BITSANDBYTES_NF4, Q.BITSANDBYTES_FP4, Q.AWQ, Q.GPTQ],
}


@dataclass(frozen=True)
class MethodAssessment:
    #: A TGI method, or a vLLM-only one (awq_marlin, gptq_marlin) in a vLLM plan.
    method: AnyMethod
    level: Level
    reason: str
    message: str
    weights_gib: float
    kv_cache_gib: float
    overhead_gib: float
    gpu_memory_gib: float
    fits: bool
    relative_speed: float | None
    bits: float

    @property
    def usable(self) -> bool:
        return self.level != Level.NO

    def summary(self) -> PlanSummary:
        compat = {
            Level.OK: Compatibility.SUPPORTED,
            Level.WARN: Compatibility.CAVEATS,
            Level.NO: Compatibility.UNSUPPORTED,
        }
        return PlanSummary(
            compatibility=compat[self.level],
            weightsGiB=self.weights_gib,
            kvCacheGiB=self.kv_cache_gib,
            overheadGiB=self.overhead_gib,
            gpuMemoryGiB=self.gpu_memory_gib,
            fits=self.fits,
            relative_speed=self.relative_speed,
            note=self.message,
        )


def assess_method(
    model: ModelInfo,
    gpu: GpuSpec,
    method: QuantizationMethod,
    *,
    gpu_count: int = 1,
    max_total_tokens: int = 2048,
    kv_tokens: int | None = None,
    prefill_tokens: int | None = None,
) -> MethodAssessment:
    """Unsupported or needs-a-prequantized-checkpoint first, then memory; fixes name only methods that fit here."""
    budget = Budget(
        model,
        gpu,
        gpu_count,
        kv_tokens or max_total_tokens * DEFAULT_SEQUENCES,
        prefill_tokens or DEFAULT_PREFILL_TOKENS,
    )
    compat = compatibility(method, gpu, model)
    fit = budget.fit(method)
    level, reason, message = compat.level, compat.reason, compat.message
    if level == Level.NO:
        message = refusal_message(compat, method, budget)
    elif not fit.fits:
        level, reason, message = Level.NO, Reason.INSUFFICIENT_GPU_MEMORY, memory_message(method, fit, budget)
    return MethodAssessment(
        method,
        level,
        str(reason),
        message,
        fit.weights_gib,
        fit.kv_cache_gib,
        fit.overhead_gib,
        fit.gpu_memory_gib,
        fit.fits,
        relative_speed(method, gpu, level),
        BITS[method],
    )


def assess_all(model: ModelInfo, gpu: GpuSpec, **kwargs: int | None) -> list[MethodAssessment]:
    return [assess_method(model, gpu, m, **kwargs) for m in QuantizationMethod]  # type: ignore[arg-type]


def recommend(assessments: list[MethodAssessment], objective: Objective) -> MethodAssessment | None:
    """The first method of the decision matrix that runs and fits; fully supported ones before caveats."""
    by_method = {a.method: a for a in assessments if a.usable}
    for wanted in (Level.OK, Level.WARN):
        for method in DECISION_MATRIX[objective]:
            a = by_method.get(method)
            if a is not None and a.level == wanted:
                return a
    return None


def plan_spec(spec: QuantizedModelSpec, profile: GpuProfile, model: ModelInfo) -> MethodAssessment:
    """The planner's verdict for a QuantizedModel's own method, GPU and token budget, per engine."""
    gpu = resolve_gpu(profile)
    if spec.engine == Engine.VLLM:
        from .vllm_plan import assess_vllm  # here: vllm_plan builds MethodAssessments from this module

        return assess_vllm(spec, gpu, model)
    method = spec.quantization.method
    if not isinstance(method, QuantizationMethod):  # auto, or a vLLM name the spec's validation refuses for TGI
        raise PlanningError(Reason.INVALID_SPEC, TGI_INSTEAD_OF_VLLM.get(method.value, AUTO_HAS_NO_SINGLE_PLAN))
    kv_tokens = spec.serving.max_batch_total_tokens or spec.serving.max_total_tokens * DEFAULT_SEQUENCES
    return assess_method(
        model,
        gpu,
        method,
        gpu_count=spec.gpu.count,
        max_total_tokens=spec.serving.max_total_tokens,
        kv_tokens=kv_tokens,
        # TGI's own default for --max-batch-prefill-tokens is max-input-tokens + 50.
        prefill_tokens=spec.serving.max_batch_prefill_tokens or spec.serving.max_input_tokens + 50,
    )
