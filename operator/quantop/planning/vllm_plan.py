"""The planner's verdict for a QuantizedModel served by vLLM: kernels, context length, then memory."""

from __future__ import annotations

from quantop.api import QuantizationMethod, QuantizedModelSpec, Reason
from quantop.api.spec import KvCacheDtype, VllmQuantization

from .catalog import GpuSpec, PlanningError
from .compatibility import Compat, Level
from .models import ModelInfo
from .plan import AUTO_HAS_NO_SINGLE_PLAN, MethodAssessment
from .vllm import NATIVE_FP8_CC, VLLM_BITS, VllmMemory, context_problem, vllm_compatibility, vllm_memory


def _with_kv_note(compat: Compat, spec: QuantizedModelSpec, gpu: GpuSpec) -> Compat:
    """An FP8 KV cache below 8.9 is stored in fp8 and upcast for attention: a caveat, not a refusal."""
    if compat.level != Level.OK or spec.vllm_options.kv_cache_dtype == KvCacheDtype.AUTO or gpu.cc >= NATIVE_FP8_CC:
        return compat
    return Compat(
        Level.WARN,
        Reason.SUPPORTED_WITH_CAVEATS,
        f"{compat.message}; the fp8 KV cache on compute capability {gpu.cc:.1f} (below 8.9) halves KV memory "
        "but attention upcasts it, so it brings no FP8 speed-up",
    )


def _memory_refusal(spec: QuantizedModelSpec, gpu: GpuSpec, mem: VllmMemory, bits: float) -> str:
    util = spec.vllm_options.gpu_memory_utilization
    fixes = ["a lower serving.maxTotalTokens"]
    if bits > 5:
        fixes.insert(0, "a 4-bit method (bitsandbytes, or awq_marlin / gptq_marlin with such a checkpoint)")
    if util < 0.95:
        fixes.insert(0, f"a higher vllm.gpuMemoryUtilization (now {util:g})")
    fixes.append("a larger GPU or more GPUs (gpu.count)")
    return (
        f"vLLM preallocates {util:g} x {spec.gpu.count}x {gpu.name.upper()} = {mem.budget_gib:.1f} GiB; weights "
        f"{mem.weights_gib:.1f} + activations and context {mem.overhead_gib:.1f} leave {mem.kv_cache_gib:.1f} GiB "
        f"of KV cache = {mem.kv_tokens} tokens, less than one sequence of serving.maxTotalTokens "
        f"{spec.serving.max_total_tokens} (vLLM refuses to start): use " + ", ".join(fixes)
    )


def assess_vllm(spec: QuantizedModelSpec, gpu: GpuSpec, model: ModelInfo) -> MethodAssessment:
    """Kernels and checkpoint first, then the model's context, then what vLLM's preallocation leaves for KV."""
    method, max_total = spec.quantization.method, spec.serving.max_total_tokens
    if not isinstance(method, QuantizationMethod | VllmQuantization):
        raise PlanningError(Reason.INVALID_SPEC, AUTO_HAS_NO_SINGLE_PLAN)
    compat = _with_kv_note(vllm_compatibility(method, gpu, model), spec, gpu)
    mem = vllm_memory(
        model,
        method,
        gpu,
        gpu_count=spec.gpu.count,
        max_total_tokens=max_total,
        options=spec.vllm_options,
        batched_tokens=spec.serving.max_batch_prefill_tokens,
    )
    level, reason, message = compat.level, str(compat.reason), compat.message
    if level != Level.NO and (too_long := context_problem(model, max_total)):
        level, reason, message = Level.NO, str(Reason.INVALID_SPEC), too_long
    elif level != Level.NO and not mem.fits:
        level, reason, message = (
            Level.NO,
            str(Reason.INSUFFICIENT_GPU_MEMORY),
            _memory_refusal(spec, gpu, mem, VLLM_BITS[method]),
        )
    elif level != Level.NO:
        message += (
            f"; KV cache {mem.kv_cache_gib:.1f} GiB holds {mem.kv_tokens} tokens: "
            f"{mem.sequences} concurrent sequences of maxTotalTokens {max_total}"
        )
    return MethodAssessment(
        method,
        level,
        reason,
        message,
        mem.weights_gib,
        mem.kv_cache_gib,
        mem.overhead_gib,
        round(gpu.memory_gib * spec.gpu.count, 2),
        mem.fits,
        None,  # no benchmark of vLLM's methods yet: no expected speed-up is claimed
        VLLM_BITS[method],
    )
