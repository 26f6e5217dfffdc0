"""vLLM's planner: which `--quantization` kernels run on which GPU, and how many sequences its KV cache holds.

Kernels, read from vLLM's source (vllm/model_executor/layers/quantization/): every method's
config class states its minimum compute capability in `get_min_capability()`: fp8 80
(`fp8.py`; `Fp8LinearMethod` runs weight-only Marlin W8A16 below 8.9 and native W8A8 from
8.9), awq_marlin and gptq_marlin 75 (`awq_marlin.py`, `gptq_marlin.py`), awq 75 (`awq.py`),
gptq 60 (`gptq.py`), bitsandbytes 70 (`bitsandbytes.py`; with no checkpoint config it quantizes
in flight to 4 bit), compressed-tensors 70 (`compressed_tensors/compressed_tensors.py`; its
W8A8 schemes need 8.0+, the W4A16 Marlin ones 7.5+). With `--quantization awq` or `gptq` on a
checkpoint Marlin could run, vLLM keeps the slow kernels and logs "Use quantization=awq_marlin
for faster inference" (`awq_marlin.py: override_quantization_method`).

Memory, from vLLM's worker (vllm/v1/worker/gpu_worker.py: determine_available_memory): vLLM
takes `--gpu-memory-utilization` x the GPU's memory, subtracts the weights, the peak activations
of a profiling forward pass over `--max-num-batched-tokens` and non-torch memory (CUDA
context), and turns the rest into KV blocks; it refuses to start if one `--max-model-len`
sequence does not fit. The batch defaults for the OpenAI server are 8192 tokens / 1024
sequences on GPUs with 70 GiB or more except A100s, else 2048 / 256
(vllm/engine/arg_utils.py: get_batch_defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

from quantop.api import QuantizationMethod, Reason
from quantop.api.spec import AnyMethod, KvCacheDtype, VllmOptions, VllmQuantization

from .catalog import GPU_CATALOG, GpuSpec
from .compatibility import Compat, Level
from .memory import CUDA_CONTEXT_GIB, GIB, RUNTIME_BUFFERS_GIB, activation_gib, weight_bytes_at
from .models import ModelInfo

Q, V = QuantizationMethod, VllmQuantization

#: Effective bits per linear-layer weight (scales included, as memory.BITS); vLLM's bitsandbytes is 4-bit.
VLLM_BITS: dict[AnyMethod, float] = {
    Q.NONE: 16.0,
    Q.FP8: 8.0,
    Q.COMPRESSED_TENSORS: 8.0,
    Q.BITSANDBYTES: 4.13,
    Q.AWQ: 4.16,
    V.AWQ_MARLIN: 4.16,
    Q.GPTQ: 4.16,
    V.GPTQ_MARLIN: 4.16,
}
#: get_min_capability() of each method's config class, as compute capability.
MIN_CC: dict[AnyMethod, float] = {
    Q.NONE: 0.0,
    Q.FP8: 8.0,
    Q.COMPRESSED_TENSORS: 7.0,
    Q.BITSANDBYTES: 7.0,
    Q.AWQ: 7.5,
    V.AWQ_MARLIN: 7.5,
    Q.GPTQ: 6.0,
    V.GPTQ_MARLIN: 7.5,
}
#: Methods that load a checkpoint already quantized in a format, and that format.
CHECKPOINT_FORMAT: dict[AnyMethod, QuantizationMethod] = {
    Q.AWQ: Q.AWQ,
    V.AWQ_MARLIN: Q.AWQ,
    Q.GPTQ: Q.GPTQ,
    V.GPTQ_MARLIN: Q.GPTQ,
    Q.COMPRESSED_TENSORS: Q.COMPRESSED_TENSORS,
}
#: The vLLM method for a checkpoint quantized in a format (what to tell a user whose flag does not match).
METHOD_FOR_FORMAT: dict[QuantizationMethod, AnyMethod] = {
    Q.AWQ: V.AWQ_MARLIN,
    Q.GPTQ: V.GPTQ_MARLIN,
    Q.COMPRESSED_TENSORS: Q.COMPRESSED_TENSORS,
}
NATIVE_FP8_CC = 8.9
#: Context length (config.json max_position_embeddings) of the table's models; vLLM refuses a longer
#: --max-model-len unless VLLM_ALLOW_LONG_MAX_MODEL_LEN is set.
CONTEXT_LENGTH: dict[str, int] = {
    "microsoft/phi-3.5-mini-instruct": 131072,
    "microsoft/phi-3-mini-4k-instruct": 4096,
    "meta-llama/llama-3.1-8b-instruct": 131072,
    "meta-llama/llama-3.1-8b": 131072,
    "meta-llama/llama-3.1-70b-instruct": 131072,
    "meta-llama/llama-3.1-70b": 131072,
    "mistralai/mistral-7b-instruct-v0.3": 32768,
    "qwen/qwen2.5-1.5b-instruct": 32768,
    "qwen/qwen2.5-7b-instruct": 32768,
    "qwen/qwen2.5-72b-instruct": 32768,
}


def _gpu(gpu: GpuSpec) -> str:
    return f"{gpu.name.upper()} (compute capability {gpu.cc:.1f})"


def _checkpoint_problem(method: AnyMethod, model: ModelInfo) -> Compat | None:
    wanted, have = CHECKPOINT_FORMAT.get(method), model.quantized_format
    if wanted is not None and have != wanted:
        what = f"it is {have.value}" if have else "it is not pre-quantized"
        return Compat(
            Level.NO,
            Reason.REQUIRES_PREQUANTIZED_MODEL,
            f"vLLM --quantization {method.value} loads a checkpoint already quantized with {wanted.value} "
            f"({model.id}: {what}): use such a repository (spec.model.quantizedFormat if quantop does not know "
            "it), or fp8 / bitsandbytes, which quantize at load",
        )
    if wanted is None and have is not None and method != Q.NONE:
        right = METHOD_FOR_FORMAT.get(have)
        fix = f"use {right.value}" if right else "set quantization.method none (vLLM reads the checkpoint's format)"
        return Compat(
            Level.NO,
            Reason.REQUIRES_PREQUANTIZED_MODEL,
            f"{model.id} is already quantized with {have.value} and vLLM refuses a --quantization that differs "
            f"from the checkpoint's: {fix}",
        )
    return None


def vllm_compatibility(method: AnyMethod, gpu: GpuSpec, model: ModelInfo) -> Compat:
    """Can vLLM run `method` for `model` on `gpu`: checkpoint first, then the kernels' compute capability."""
    if (problem := _checkpoint_problem(method, model)) is not None:
        return problem
    cc = gpu.cc
    if cc < MIN_CC[method]:
        runs = [m.value for m in VLLM_BITS if m != Q.NONE and MIN_CC[m] <= cc and m not in CHECKPOINT_FORMAT]
        instead = f"use {' or '.join(runs)}" if runs else "serve it unquantized or on a newer GPU"
        return Compat(
            Level.NO,
            Reason.METHOD_UNSUPPORTED_ON_GPU,
            f"vLLM's {method.value} kernels need compute capability {MIN_CC[method]:.1f}+; {_gpu(gpu)} has less: "
            f"{instead}",
        )
    return _kernel_note(method, gpu)


def _kernel_note(method: AnyMethod, gpu: GpuSpec) -> Compat:
    cc, where = gpu.cc, _gpu(gpu)
    caveat = Level.WARN, Reason.SUPPORTED_WITH_CAVEATS
    if method == Q.FP8 and cc < NATIVE_FP8_CC:
        return Compat(
            *caveat,
            f"vLLM fp8 on {where} runs weight-only Marlin W8A16 (no FP8 tensor cores below 8.9): weights halved, "
            "no FP8 compute speed-up (as TGI's fp8 there)",
        )
    if method in (Q.AWQ, Q.GPTQ):
        faster = V.AWQ_MARLIN if method == Q.AWQ else V.GPTQ_MARLIN
        return Compat(
            *caveat,
            f"vLLM keeps its slower {method.value} kernels when asked for {method.value} by name: use "
            f"{faster.value} for the same checkpoint with Marlin kernels on {where}",
        )
    if method == Q.COMPRESSED_TENSORS and cc < 8.0:
        return Compat(*caveat, f"on {where} only compressed-tensors' W4A16 schemes run; W8A8 ones need 8.0+")
    if method == Q.BITSANDBYTES:
        return Compat(
            Level.OK,
            Reason.PLANNED,
            f"vLLM bitsandbytes quantizes to 4 bit in flight on {where}: weights quartered vs fp16, but it "
            "dequantizes on the fly (the guide measured 0.7x for 4-bit bitsandbytes)",
        )
    if method == Q.FP8:
        return Compat(Level.OK, Reason.PLANNED, f"vLLM fp8 runs native W8A8 FP8 kernels on {where}")
    if method == Q.NONE:
        dtype = "fp16 (bfloat16 needs 8.0+)" if cc < 8.0 else "fp16/bf16"
        return Compat(Level.OK, Reason.PLANNED, f"vLLM serves the model unquantized in {dtype} on {where}")
    if method == Q.COMPRESSED_TENSORS:
        return Compat(Level.OK, Reason.PLANNED, f"vLLM runs the checkpoint's compressed-tensors scheme on {where}")
    return Compat(Level.OK, Reason.PLANNED, f"vLLM {method.value} runs with Marlin kernels on {where}")


def default_batched_tokens(gpu: GpuSpec) -> int:
    """vLLM's --max-num-batched-tokens default for its OpenAI server on this GPU (get_batch_defaults)."""
    return 8192 if gpu.memory_gib >= 70 and not gpu.name.startswith("a100") else 2048


@dataclass(frozen=True)
class VllmMemory:
    """vLLM's preallocation, over all GPUs of a replica (tensor parallelism splits weights and KV)."""

    budget_gib: float
    weights_gib: float
    overhead_gib: float
    kv_cache_gib: float
    kv_tokens: int
    sequences: int

    @property
    def fits(self) -> bool:
        return self.sequences >= 1


def vllm_memory(
    model: ModelInfo,
    method: AnyMethod,
    gpu: GpuSpec,
    *,
    gpu_count: int,
    max_total_tokens: int,
    options: VllmOptions,
    batched_tokens: int | None = None,
) -> VllmMemory:
    """What gpuMemoryUtilization leaves for KV blocks, and how many maxTotalTokens sequences that holds."""
    budget = options.gpu_memory_utilization * gpu.memory_gib * gpu_count
    weights = weight_bytes_at(model, VLLM_BITS[method]) / GIB
    step_tokens = batched_tokens or default_batched_tokens(gpu)
    overhead = (CUDA_CONTEXT_GIB + RUNTIME_BUFFERS_GIB) * gpu_count + activation_gib(model, step_tokens)
    kv = max(budget - weights - overhead, 0.0)
    per_token = model.kv_bytes_per_token * (0.5 if options.kv_cache_dtype != KvCacheDtype.AUTO else 1.0)
    tokens = int(kv * GIB // per_token) if per_token else 0
    return VllmMemory(
        round(budget, 2), round(weights, 2), round(overhead, 2), round(kv, 2), tokens, tokens // max_total_tokens
    )


def context_problem(model: ModelInfo, max_total_tokens: int) -> str | None:
    """vLLM refuses --max-model-len beyond the model's context; None when fine or unknown."""
    context = CONTEXT_LENGTH.get(model.id.lower())
    if context is None or max_total_tokens <= context:
        return None
    return (
        f"serving.maxTotalTokens {max_total_tokens} (vLLM --max-model-len) exceeds {model.id}'s context of "
        f"{context} tokens: set serving.maxTotalTokens to at most {context}"
    )


MATRIX_BEGIN = "<!-- vllm-matrix:begin (generated by quantop.planning.vllm; run `make generate`) -->"
MATRIX_END = "<!-- vllm-matrix:end -->"


def vllm_matrix_markdown() -> str:
    """✅/⚠️/❌ for every vLLM method on every catalog GPU, assuming a checkpoint in the method's own format."""
    gpus = list(GPU_CATALOG.values())
    lines = [
        "| vLLM method | " + " | ".join(f"{g.name} ({g.cc:.1f})" for g in gpus) + " |",
        "|---|" + "---|" * len(gpus),
    ]
    for method in VLLM_BITS:
        model = ModelInfo("any", 7.0, 32, 8, 128, quantized_format=CHECKPOINT_FORMAT.get(method))
        cells = [vllm_compatibility(method, g, model).level.icon for g in gpus]
        lines.append(f"| `{method.value}` | " + " | ".join(cells) + " |")
    return "\n".join([MATRIX_BEGIN, *lines, MATRIX_END])
