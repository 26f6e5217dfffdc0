"""vLLM's container for a revision's Deployment (the pod around it is deployment.py's, shared with TGI).

Read from vLLM's source: the `vllm/vllm-openai` image's ENTRYPOINT is `vllm serve`
(docker/Dockerfile), which takes the model as its positional argument and warns that
`--model` will be removed (vllm/utils/argparse_utils.py); the engine flags are EngineArgs
(vllm/engine/arg_utils.py); the OpenAI server listens on 8000 and answers GET /health once
the engine is up (vllm/entrypoints/openai/api_server.py).
"""

from __future__ import annotations

from typing import Any

from quantop.api import QuantizationMethod
from quantop.api.spec import KvCacheDtype

from .context import ModelContext, hf_token_env
from .names import TGI_PORT_NAME
from .probes import serving_probes

#: vLLM's OpenAI server port (`--port`, default 8000). The port keeps the name Services target.
VLLM_PORT = 8000


def vllm_args(ctx: ModelContext) -> list[str]:
    """`vllm serve` arguments; the HF token never appears here (it comes from a secretKeyRef)."""
    spec, serving, opts = ctx.spec, ctx.spec.serving, ctx.spec.vllm_options
    args = [spec.model.id, "--revision", spec.model.revision, "--port", str(VLLM_PORT)]
    if spec.quantization.method != QuantizationMethod.NONE:
        args += ["--quantization", spec.quantization.method.value]
    if spec.quantization.dtype is not None:
        args += ["--dtype", spec.quantization.dtype.value]
    # maxTotalTokens is prompt + generation, which is what vLLM's --max-model-len bounds.
    args += ["--max-model-len", str(serving.max_total_tokens)]
    args += ["--gpu-memory-utilization", f"{opts.gpu_memory_utilization:g}"]
    if opts.max_num_seqs is not None:
        args += ["--max-num-seqs", str(opts.max_num_seqs)]
    if opts.kv_cache_dtype != KvCacheDtype.AUTO:
        args += ["--kv-cache-dtype", opts.kv_cache_dtype.value]
    if serving.max_batch_prefill_tokens is not None:
        # TGI's prefill budget per batch is vLLM's token budget per scheduler step.
        args += ["--max-num-batched-tokens", str(serving.max_batch_prefill_tokens)]
    if spec.gpu.count > 1:
        args += ["--tensor-parallel-size", str(spec.gpu.count)]
    return args


def vllm_env(ctx: ModelContext) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        # The image caches under /root/.cache/huggingface; HF_HOME puts the cache on the model volume.
        {"name": "HF_HOME", "value": "/data"},
        # vLLM reports usage statistics to its maintainers unless told not to (vllm/usage/usage_lib.py).
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
    ]
    return env + hf_token_env(ctx)


def vllm_container(ctx: ModelContext) -> dict[str, Any]:
    gpu_limits = {ctx.profile.resource_name: str(ctx.spec.gpu.count)}
    return {
        "name": "vllm",
        "image": ctx.spec.image,
        "args": vllm_args(ctx),
        "env": vllm_env(ctx),
        "ports": [{"name": TGI_PORT_NAME, "containerPort": VLLM_PORT, "protocol": "TCP"}],
        "resources": {"limits": dict(gpu_limits), "requests": dict(gpu_limits)},
        # Tensor parallelism exchanges activations through /dev/shm (NCCL), as TGI's sharding does.
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}, {"name": "data", "mountPath": "/data"}],
        **serving_probes(ctx.spec.serving.startup_timeout),
    }
