"""Memory fit: weights per method + KV cache for the token budget + runtime overhead, with headroom."""

from __future__ import annotations

from dataclasses import dataclass

from quantop.api import QuantizationMethod

from .models import ModelInfo

Q = QuantizationMethod
GIB = 1024**3

#: Effective bits per quantized weight, scales included. 4-bit GPTQ/AWQ/Marlin/EXL2 store an fp16
#: scale and a 4-bit zero per group of 128 (+0.16 bit); bitsandbytes 4-bit keeps an absmax per 64
#: weights, double-quantized in TGI (+0.13 bit). fp8/eetq/bnb-8bit keep a per-channel scale (~0).
BITS: dict[QuantizationMethod, float] = {
    Q.NONE: 16.0,
    Q.FP8: 8.0,
    Q.EETQ: 8.0,
    Q.BITSANDBYTES: 8.0,
    Q.COMPRESSED_TENSORS: 8.0,
    Q.BITSANDBYTES_NF4: 4.13,
    Q.BITSANDBYTES_FP4: 4.13,
    Q.GPTQ: 4.16,
    Q.AWQ: 4.16,
    Q.MARLIN: 4.16,
    Q.EXL2: 4.16,
}
#: CUDA context, NCCL buffers and prefill activations, per GPU (TGI's warm-up measures the real figure).
OVERHEAD_PER_GPU_GIB = 1.5
#: Share of GPU memory planned: TGI's cuda_memory_fraction is 1.0, fragmentation is not.
USABLE_FRACTION = 0.9
#: Sequences of maxTotalTokens the KV cache must hold when maxBatchTotalTokens is unset.
DEFAULT_SEQUENCES = 4


@dataclass(frozen=True)
class MemoryFit:
    weights_gib: float
    kv_cache_gib: float
    overhead_gib: float
    gpu_memory_gib: float
    fits: bool

    @property
    def needed_gib(self) -> float:
        return self.weights_gib + self.kv_cache_gib + self.overhead_gib


def weight_bytes(model: ModelInfo, method: QuantizationMethod) -> float:
    """Linear layers at the method's bits; embeddings and lm_head stay 16-bit."""
    total = model.parameters_billions * 1e9
    embeddings = min(model.embedding_params, total)
    return (total - embeddings) * BITS[method] / 8 + embeddings * 2


def memory_fit(
    model: ModelInfo, method: QuantizationMethod, gpu_memory_gib: float, gpu_count: int, kv_tokens: int
) -> MemoryFit:
    weights = weight_bytes(model, method) / GIB
    kv = model.kv_bytes_per_token * kv_tokens / GIB
    overhead = OVERHEAD_PER_GPU_GIB * gpu_count
    total_memory = gpu_memory_gib * gpu_count
    fits = weights + kv + overhead <= total_memory * USABLE_FRACTION
    return MemoryFit(round(weights, 2), round(kv, 2), round(overhead, 2), round(total_memory, 2), fits)
