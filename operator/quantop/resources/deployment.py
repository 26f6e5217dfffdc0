"""The serving Deployment of one revision: TGI's container here, vLLM's in vllm.py, one pod spec for both."""

from __future__ import annotations

from typing import Any

from quantop.api import QuantizationMethod
from quantop.api.spec import Engine

from .context import ModelContext, hf_token_env
from .hardening import serving_container_security_context, serving_pod_fields
from .names import (
    ANNOTATION_GPU_MODEL,
    TGI_PORT,
    TGI_PORT_NAME,
    revision_labels,
    revision_name,
    revision_selector,
)
from .owner import object_meta
from .probes import serving_probes
from .vllm import vllm_container

#: TGI drains for --graceful-termination-timeout (90 s by default); the pod must outlive it.
TERMINATION_GRACE_SECONDS = 120


def tgi_args(ctx: ModelContext) -> list[str]:
    """TGI launcher flags; the HF token never appears here (it comes from a secretKeyRef)."""
    spec, serving = ctx.spec, ctx.spec.serving
    args = ["--model-id", spec.model.id, "--revision", spec.model.revision, "--port", str(TGI_PORT)]
    if spec.quantization.method != QuantizationMethod.NONE:
        args += ["--quantize", spec.quantization.method.value]
    if spec.quantization.dtype is not None:
        args += ["--dtype", spec.quantization.dtype.value]
    args += [
        "--max-input-tokens",
        str(serving.max_input_tokens),
        "--max-total-tokens",
        str(serving.max_total_tokens),
        "--max-concurrent-requests",
        str(serving.max_concurrent_requests),
    ]
    if serving.max_batch_prefill_tokens is not None:
        args += ["--max-batch-prefill-tokens", str(serving.max_batch_prefill_tokens)]
    if serving.max_batch_total_tokens is not None:
        args += ["--max-batch-total-tokens", str(serving.max_batch_total_tokens)]
    if spec.gpu.count > 1:
        args += ["--num-shard", str(spec.gpu.count)]
    args.append("--json-output")
    return args


def tgi_env(ctx: ModelContext) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        # Kubernetes sets HOSTNAME to the pod name and TGI's --hostname reads it (TGI issue 1156).
        {"name": "HOSTNAME", "value": "0.0.0.0"},
        {"name": "HF_HOME", "value": "/data"},
    ]
    return env + hf_token_env(ctx)


def _volumes(ctx: ModelContext) -> list[dict[str, Any]]:
    shm = ctx.spec.serving.shm_size or ctx.config.shm_size
    cache = ctx.config.model_cache
    data: dict[str, Any]
    if cache.type == "pvc" and cache.claim_name:
        data = {"name": "data", "persistentVolumeClaim": {"claimName": cache.claim_name}}
    else:
        data = {"name": "data", "emptyDir": {"sizeLimit": cache.size_limit}}
    return [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": shm}}, data]


def tgi_container(ctx: ModelContext) -> dict[str, Any]:
    gpu_limits = {ctx.profile.resource_name: str(ctx.spec.gpu.count)}
    return {
        "name": "tgi",
        "image": ctx.spec.image,
        "args": tgi_args(ctx),
        "env": tgi_env(ctx),
        "ports": [{"name": TGI_PORT_NAME, "containerPort": TGI_PORT, "protocol": "TCP"}],
        "resources": {"limits": dict(gpu_limits), "requests": dict(gpu_limits)},
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}, {"name": "data", "mountPath": "/data"}],
        **serving_probes(ctx.spec.serving.startup_timeout),
    }


def build_deployment(ctx: ModelContext, replicas: int | None = None) -> dict[str, Any]:
    """The Deployment `<name>-<revision>` running the spec's engine on the profile's GPU node pool."""
    revision = ctx.revision
    labels = revision_labels(ctx.name, ctx.spec, revision)
    container = vllm_container(ctx) if ctx.spec.engine == Engine.VLLM else tgi_container(ctx)
    # Both engines get the same hardening (resources/hardening.py says what each image tolerates and why).
    container["securityContext"] = serving_container_security_context()
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": _volumes(ctx),
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        **serving_pod_fields(),
    }
    if ctx.profile.node_selector:
        pod_spec["nodeSelector"] = dict(ctx.profile.node_selector)
    if ctx.profile.tolerations:
        pod_spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in ctx.profile.tolerations]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(revision_name(ctx.name, revision), ctx.namespace, labels, ctx.name, ctx.uid),
        "spec": {
            "replicas": ctx.spec.serving.replicas if replicas is None else replicas,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": revision_selector(ctx.name, revision)},
            # One GPU pod at a time: a surge pod would wait for a free GPU anyway.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels, "annotations": {ANNOTATION_GPU_MODEL: ctx.profile.gpu}},
                "spec": pod_spec,
            },
        },
    }
