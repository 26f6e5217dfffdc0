"""What the planner tells a user to do instead, and the speed it expects: drawn from that GPU, never a fixed list.

A refused row's fix names only methods that run (✅/⚠️) on the same GPU and fit the same memory
budget, and a row refused for memory suggests only methods with fewer bits than its own, so a
4-bit row is never told to "use a 4-bit method".
"""

from __future__ import annotations

from dataclasses import dataclass

from quantop.api import QuantizationMethod

from .catalog import GpuSpec
from .compatibility import Compat, Level, compatibility
from .memory import BITS, DEFAULT_PREFILL_TOKENS, USABLE_FRACTION, MemoryFit, memory_fit
from .models import ModelInfo

Q = QuantizationMethod

#: Speed vs the unquantized default measured in the guide's A10 benchmark (median latency ratio).
#: fp8 ran weight-only there (Marlin W8A16 below compute capability 8.9), hence the same 1.1x as eetq.
GUIDE_RELATIVE_SPEED: dict[QuantizationMethod, float] = {
    Q.NONE: 1.0,
    Q.FP8: 1.1,
    Q.EETQ: 1.1,
    Q.BITSANDBYTES_NF4: 0.7,
    Q.BITSANDBYTES_FP4: 0.7,
    Q.BITSANDBYTES: 0.4,
}
#: fp8 where TGI runs native W8A8 FP8 GEMMs (compute capability 9.0; 8.9 only with USE_CUTLASS_W8A8=1,
#: see compatibility.py). Baseten measured FP8 vs FP16 on an H100 (Mistral 7B, TensorRT-LLM, 32
#: concurrent requests): +33% output tokens/s, -8.5% time to first token
#: (https://www.baseten.co/blog/33-faster-llm-inference-with-fp8-quantization/). Weight-only 8-bit
#: (eetq) stays at the guide's 1.1x: it saves bandwidth, not compute.
NATIVE_FP8_RELATIVE_SPEED = 1.3
NATIVE_FP8_MIN_CC = 9.0
#: At most this many methods are named in one suggestion.
MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class Budget:
    """What every method of one plan must fit: the GPU, how many, and the KV-cache tokens."""

    model: ModelInfo
    gpu: GpuSpec
    gpu_count: int
    kv_tokens: int
    #: TGI's warm-up prefill (--max-batch-prefill-tokens): its activations are part of the overhead.
    prefill_tokens: int = DEFAULT_PREFILL_TOKENS

    def fit(self, method: QuantizationMethod) -> MemoryFit:
        return memory_fit(
            self.model,
            method,
            self.gpu.memory_gib,
            self.gpu_count,
            self.kv_tokens,
            prefill_tokens=self.prefill_tokens,
        )

    @property
    def where(self) -> str:
        return f"{self.gpu_count}x {self.gpu.name.upper()}"


def relative_speed(method: QuantizationMethod, gpu: GpuSpec, level: Level) -> float | None:
    """Expected speed vs fp16, or None where the method does not run (a refused row shows no speed-up)."""
    if level == Level.NO:
        return None
    if method == Q.FP8 and gpu.cc >= NATIVE_FP8_MIN_CC:
        return NATIVE_FP8_RELATIVE_SPEED
    return GUIDE_RELATIVE_SPEED.get(method)


def alternatives(
    budget: Budget, exclude: QuantizationMethod, *, fewer_bits_than: float | None = None
) -> list[QuantizationMethod]:
    """Methods that run on the GPU and fit: the checkpoint's own format first (it is already quantized
    that way), then fully supported before caveats, the faster, and fewer bits."""
    found: list[tuple[bool, bool, float, float, QuantizationMethod]] = []
    for method in QuantizationMethod:
        if method in (exclude, Q.NONE) or (fewer_bits_than is not None and BITS[method] >= fewer_bits_than):
            continue
        compat = compatibility(method, budget.gpu, budget.model)
        if compat.level == Level.NO or not budget.fit(method).fits:
            continue
        speed = relative_speed(method, budget.gpu, compat.level) or 0.0
        own = method == budget.model.quantized_format
        found.append((not own, compat.level != Level.OK, -speed, BITS[method], method))
    return [m for *_, m in sorted(found, key=lambda t: t[:4])][:MAX_SUGGESTIONS]


def _names(methods: list[QuantizationMethod]) -> str:
    names = [m.value for m in methods]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def refusal_message(compat: Compat, method: QuantizationMethod, budget: Budget) -> str:
    """The compatibility problem, then the fixes: the method-free one, and methods that run and fit here."""
    fixes = [compat.fix] if compat.fix else []
    alts = alternatives(budget, method)
    if alts:
        fixes.append(f"use {_names(alts)} (they run and fit on {budget.where})")
    elif not fixes:
        fixes.append(
            f"use a larger GPU or more GPUs (gpu.count): no quantization method runs and fits on {budget.where}"
        )
    return f"{compat.message}: {', or '.join(fixes)}"


def memory_message(method: QuantizationMethod, fit: MemoryFit, budget: Budget) -> str:
    """Why the method does not fit, and only the fixes that would help this row."""
    fixes = []
    alts = alternatives(budget, method, fewer_bits_than=BITS[method])
    if alts:
        fixes.append(f"use {_names(alts)} (fewer bits; they fit)")
    if fit.weights_gib + fit.overhead_gib <= fit.gpu_memory_gib * USABLE_FRACTION:
        fixes.append("lower maxTotalTokens or maxBatchTotalTokens (the KV cache)")
    fixes.append("use a larger GPU or more GPUs (gpu.count)")
    return (
        f"{budget.model.id} with {method.value} needs {fit.needed_gib:.1f} GiB (weights {fit.weights_gib:.1f} + "
        f"KV cache {fit.kv_cache_gib:.1f} + overhead {fit.overhead_gib:.1f}) but {budget.where} offers "
        f"{fit.gpu_memory_gib:.0f} GiB ({USABLE_FRACTION:.0%} usable): {'; '.join(fixes)}"
    )
