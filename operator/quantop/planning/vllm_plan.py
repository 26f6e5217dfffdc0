"""The planner's verdict for a model served by vLLM: kernels, context length, then memory; and every method at once."""

from __future__ import annotations

from dataclasses import dataclass, field

from quantop.api import Objective, QuantizationMethod, QuantizedModelSpec, Reason
from quantop.api.spec import AnyMethod, KvCacheDtype, VllmOptions, VllmQuantization

from .catalog import GpuSpec, PlanningError
from .compatibility import Compat, Level
from .models import ModelInfo
from .plan import AUTO_HAS_NO_SINGLE_PLAN, MethodAssessment
from .vllm import NATIVE_FP8_CC, VLLM_BITS, VllmMemory, context_problem, vllm_compatibility, vllm_memory

Q, V = QuantizationMethod, VllmQuantization

#: The guide's decision matrix in vLLM's names. vLLM has no eetq (fp8 is its 8-bit at full speed) and its
#: bitsandbytes is the 4-bit one; the Marlin 4-bit methods need their checkpoints, so they come after.
VLLM_DECISION_MATRIX: dict[Objective, list[AnyMethod]] = {
    Objective.LATENCY: [Q.FP8],
    Objective.MEMORY: [Q.BITSANDBYTES, V.AWQ_MARLIN, V.GPTQ_MARLIN],
    Objective.COST: [Q.FP8, Q.BITSANDBYTES],
    Objective.EDGE: [Q.BITSANDBYTES, V.AWQ_MARLIN, V.GPTQ_MARLIN],
}


@dataclass(frozen=True)
class VllmBudget:
    """What a vLLM plan is made for: the GPUs, the sequence length and vLLM's own arguments."""

    gpu: GpuSpec
    gpu_count: int = 1
    max_total_tokens: int = 2048
    options: VllmOptions = field(default_factory=VllmOptions)
    batched_tokens: int | None = None


def _with_kv_note(compat: Compat, budget: VllmBudget) -> Compat:
    """An FP8 KV cache below 8.9 is stored in fp8 and upcast for attention: a caveat, not a refusal."""
    cc = budget.gpu.cc
    if compat.level != Level.OK or budget.options.kv_cache_dtype == KvCacheDtype.AUTO or cc >= NATIVE_FP8_CC:
        return compat
    return Compat(
        Level.WARN,
        Reason.SUPPORTED_WITH_CAVEATS,
        f"{compat.message}; the fp8 KV cache on compute capability {cc:.1f} (below 8.9) halves KV memory "
        "but attention upcasts it, so it brings no FP8 speed-up",
    )


def _memory_refusal(budget: VllmBudget, mem: VllmMemory, bits: float) -> str:
    util = budget.options.gpu_memory_utilization
    fixes = ["a lower serving.maxTotalTokens"]
    if bits > 5:
        fixes.insert(0, "a 4-bit method (bitsandbytes, or awq_marlin / gptq_marlin with such a checkpoint)")
    if util < 0.95:
        fixes.insert(0, f"a higher vllm.gpuMemoryUtilization (now {util:g})")
    fixes.append("a larger GPU or more GPUs (gpu.count)")
    return (
        f"vLLM preallocates {util:g} x {budget.gpu_count}x {budget.gpu.name.upper()} = {mem.budget_gib:.1f} GiB; "
        f"weights {mem.weights_gib:.1f} + activations and context {mem.overhead_gib:.1f} leave "
        f"{mem.kv_cache_gib:.1f} GiB of KV cache = {mem.kv_tokens} tokens, less than one sequence of "
        f"serving.maxTotalTokens {budget.max_total_tokens} (vLLM refuses to start): use " + ", ".join(fixes)
    )


def assess_vllm_method(model: ModelInfo, method: AnyMethod, budget: VllmBudget) -> MethodAssessment:
    """Kernels and checkpoint first, then the model's context, then what vLLM's preallocation leaves for KV."""
    compat = _with_kv_note(vllm_compatibility(method, budget.gpu, model), budget)
    mem = vllm_memory(
        model,
        method,
        budget.gpu,
        gpu_count=budget.gpu_count,
        max_total_tokens=budget.max_total_tokens,
        options=budget.options,
        batched_tokens=budget.batched_tokens,
    )
    level, reason, message = compat.level, str(compat.reason), compat.message
    if level != Level.NO and (too_long := context_problem(model, budget.max_total_tokens)):
        level, reason, message = Level.NO, str(Reason.INVALID_SPEC), too_long
    elif level != Level.NO and not mem.fits:
        refusal = _memory_refusal(budget, mem, VLLM_BITS[method])
        level, reason, message = Level.NO, str(Reason.INSUFFICIENT_GPU_MEMORY), refusal
    elif level != Level.NO:
        message += (
            f"; KV cache {mem.kv_cache_gib:.1f} GiB holds {mem.kv_tokens} tokens: "
            f"{mem.sequences} concurrent sequences of maxTotalTokens {budget.max_total_tokens}"
        )
    return MethodAssessment(
        method,
        level,
        reason,
        message,
        mem.weights_gib,
        mem.kv_cache_gib,
        mem.overhead_gib,
        round(budget.gpu.memory_gib * budget.gpu_count, 2),
        mem.fits,
        None,  # no benchmark of vLLM's methods yet: no expected speed-up is claimed
        VLLM_BITS[method],
    )


def assess_vllm(spec: QuantizedModelSpec, gpu: GpuSpec, model: ModelInfo) -> MethodAssessment:
    """The plan of a QuantizedModel with engine vllm."""
    method = spec.quantization.method
    if not isinstance(method, QuantizationMethod | VllmQuantization):
        raise PlanningError(Reason.INVALID_SPEC, AUTO_HAS_NO_SINGLE_PLAN)
    budget = VllmBudget(
        gpu, spec.gpu.count, spec.serving.max_total_tokens, spec.vllm_options, spec.serving.max_batch_prefill_tokens
    )
    return assess_vllm_method(model, method, budget)


def assess_all_vllm(model: ModelInfo, budget: VllmBudget) -> list[MethodAssessment]:
    """Every vLLM method quantop accepts, for `quantop plan --engine vllm`."""
    return [assess_vllm_method(model, m, budget) for m in VLLM_BITS]


def recommend_vllm(assessments: list[MethodAssessment], objective: Objective) -> MethodAssessment | None:
    """The first method of vLLM's decision matrix that runs and fits; fully supported ones before caveats."""
    by_method = {a.method: a for a in assessments if a.usable}
    for wanted in (Level.OK, Level.WARN):
        for method in VLLM_DECISION_MATRIX[objective]:
            a = by_method.get(method)
            if a is not None and a.level == wanted:
                return a
    return None
