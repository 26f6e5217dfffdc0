"""Memory fit: weights per method + KV cache for the token budget + TGI's warm-up overhead, with headroom.

TGI's warm-up prefills `--max-batch-prefill-tokens` once, keeps that activation memory, then fills
what is free with KV blocks. A real-GPU measurement (H200, TGI 3.3, 4-8B models) found activation
memory growing 0.08-0.11 GiB per 1k prefill tokens on top of about 0.7 GiB of CUDA context, so the
former fixed 1.5 GiB was 30-35% low at an 8k-token prefill. The overhead below is that model.
"""

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
#: CUDA context (driver, cuBLAS/cuDNN handles) per GPU, measured.
CUDA_CONTEXT_GIB = 0.7
#: Buffers that do not grow with the prefill (CUDA graphs, sampler, NCCL), per GPU, fitted to the measurement:
#: at an 8k-token prefill the model gives 1.86 GiB (Phi-3.5) to 2.08 GiB (Llama-3.1-8B), 24-39% above the
#: former 1.5 GiB where 30-35% was measured; at TGI's default ~1k prefill it gives 1.3 GiB.
RUNTIME_BUFFERS_GIB = 0.5
#: Prefill activation bytes per token and per hidden unit: 0.080 GiB per 1k tokens at hidden 3072
#: (Phi-3.5, 3.8B) and 0.107 at 4096 (Llama-3.1-8B), the measured 0.08-0.11.
ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN = 28
#: Used when the hidden size is unknown (architecture given in the spec without a table entry).
FALLBACK_ACTIVATION_GIB_PER_1K = 0.11
#: TGI's --max-batch-prefill-tokens defaults to max-input-tokens + 50; quantop's maxInputTokens is 1024.
DEFAULT_PREFILL_TOKENS = 1024 + 50
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
    return weight_bytes_at(model, BITS[method])


def weight_bytes_at(model: ModelInfo, bits: float) -> float:
    total = model.parameters_billions * 1e9
    embeddings = min(model.embedding_params, total)
    return (total - embeddings) * bits / 8 + embeddings * 2


def activation_gib(model: ModelInfo, tokens: int) -> float:
    """Activation memory of one forward pass over `tokens` prefill tokens, on one GPU."""
    if model.hidden_size <= 0:
        return FALLBACK_ACTIVATION_GIB_PER_1K * tokens / 1000
    return ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN * model.hidden_size * tokens / GIB


def overhead_gib(model: ModelInfo, prefill_tokens: int, gpu_count: int) -> float:
    """CUDA context + fixed buffers + the warm-up prefill's activations, over all GPUs of a replica.

    Sharding splits the activations (tensor parallelism), not the context or the buffers.
    """
    per_gpu = CUDA_CONTEXT_GIB + RUNTIME_BUFFERS_GIB
    return per_gpu * gpu_count + activation_gib(model, prefill_tokens)


def memory_fit(
    model: ModelInfo,
    method: QuantizationMethod,
    gpu_memory_gib: float,
    gpu_count: int,
    kv_tokens: int,
    *,
    prefill_tokens: int = DEFAULT_PREFILL_TOKENS,
) -> MemoryFit:
    weights = weight_bytes(model, method) / GIB
    kv = model.kv_bytes_per_token * kv_tokens / GIB
    overhead = overhead_gib(model, prefill_tokens, gpu_count)
    total_memory = gpu_memory_gib * gpu_count
    fits = weights + kv + overhead <= total_memory * USABLE_FRACTION
    return MemoryFit(round(weights, 2), round(kv, 2), round(overhead, 2), round(total_memory, 2), fits)
