"""The validation Job: `quantop validate` against one revision's Service, result in the termination message.

The Job carries its ValidationRequest (api/validation_request.py) as `quantop validate` flags, generated
from the request's fields by the same table the command's parser is generated from. Flags rather than
a JSON argument or a mounted file: `kubectl describe job` and `quantop render` show them readably, the
sandbox's kubelet points `--endpoint` at its local proxy, and there is no ConfigMap to create and
collect. `quantop validate --request FILE|JSON` reads the same request as JSON for CI and scripts.
"""

from __future__ import annotations

import math
from typing import Any

from quantop.api import parse_duration
from quantop.api.spec import Engine
from quantop.api.validation_request import (
    STREAMS_PER_WORKER as STREAMS_PER_WORKER,  # re-exported: callers imported it from here
)
from quantop.api.validation_request import (
    AccuracyRequest,
    CostInputs,
    Gates,
    LoadRequest,
    ToBeat,
    ValidationRequest,
    load_workers,
)

from .context import ModelContext
from .hardening import quantop_container_security_context, quantop_pod_security_context
from .names import LABEL_COMPONENT, common_labels, revision_name
from .owner import object_meta

DATASET_MOUNT = "/var/run/quantop/dataset"


def validation_job_name(name: str, revision: str) -> str:
    return f"{revision_name(name, revision)}-validate"


def revision_endpoint(ctx: ModelContext, revision: str) -> str:
    return f"http://{revision_name(ctx.name, revision)}.{ctx.namespace}.svc:80"


#: Output flags of the Job: where the compact result goes (the kubelet reads it into the pod status).
JOB_OUTPUT_ARGS = ["--termination-log", "/dev/termination-log", "--no-progress"]


def _dataset_source(ctx: ModelContext) -> str:
    ds = ctx.spec.validation.accuracy.dataset
    if ds.config_map_ref:
        return f"{DATASET_MOUNT}/{ds.config_map_ref.key}"
    return ds.url or f"builtin:{ds.builtin}"


def validation_request(
    ctx: ModelContext,
    revision: str,
    *,
    baseline_accuracy: float | None,
    price_per_hour: float | None,
    weights_gib: float | None = None,
    endpoint: str | None = None,
    baseline_outcomes: str | None = None,
    to_beat: ToBeat | None = None,
) -> ValidationRequest:
    """What the Job must check for this revision; every value comes from the spec, none from a Secret.

    `to_beat`: a selection's figure to beat (the best passing candidate's p95 upper bound), not a gate."""
    v = ctx.spec.validation
    return ValidationRequest(
        endpoint=endpoint or revision_endpoint(ctx, revision),
        # A migration compares a TGI and a vLLM revision of one method: the engine tells their rows apart.
        label=("vllm-" if ctx.spec.engine == Engine.VLLM else "") + ctx.spec.quantization.method.value,
        revision=revision,
        # vLLM has no /generate routes: it is measured through /v1/completions, under its served name.
        api="openai" if ctx.spec.engine == Engine.VLLM else "generate",
        served_model=ctx.spec.model.id if ctx.spec.engine == Engine.VLLM else "tgi",
        load=LoadRequest(
            users=v.load.users,
            duration=v.load.duration,
            warmup=v.load.warmup,
            max_new_tokens=v.load.max_new_tokens,
            # Pinned here, not left to "auto": the pod's CPU request below is sized from it.
            workers=load_workers(v.load.users, v.load.workers),
        ),
        accuracy=AccuracyRequest(
            dataset=_dataset_source(ctx),
            field_map=dict(v.accuracy.dataset.field_map),
            metric=v.accuracy.metric,
            samples=v.accuracy.samples,
            concurrency=v.accuracy.concurrency,
        ),
        gates=Gates(
            p95_ms=v.slo.p95_latency_ms,
            p99_ms=v.slo.p99_latency_ms,
            ttft_p95_ms=v.slo.ttft_p95_ms,
            min_rps=v.slo.min_requests_per_second,
            max_error_rate=v.slo.max_error_rate,
            min_accuracy=v.baseline.min_accuracy,
            baseline_accuracy=baseline_accuracy,
            max_accuracy_drop=v.baseline.max_accuracy_drop,
            confidence=v.confidence,
            baseline_outcomes=baseline_outcomes,
        ),
        cost=CostInputs(
            gpu_price_per_hour=price_per_hour,
            replicas=max(ctx.spec.serving.replicas, 1),
            gpu_count=ctx.spec.gpu.count,
            weights_gib=weights_gib,
        ),
        to_beat=to_beat or ToBeat(),
    )


def validate_args(
    ctx: ModelContext,
    revision: str,
    *,
    baseline_accuracy: float | None,
    price_per_hour: float | None,
    weights_gib: float | None = None,
    endpoint: str | None = None,
    baseline_outcomes: str | None = None,
    to_beat: ToBeat | None = None,
) -> list[str]:
    """The Job's `quantop validate` command line: the request as flags, then where the result goes."""
    request = validation_request(
        ctx,
        revision,
        baseline_accuracy=baseline_accuracy,
        price_per_hour=price_per_hour,
        weights_gib=weights_gib,
        endpoint=endpoint,
        baseline_outcomes=baseline_outcomes,
        to_beat=to_beat,
    )
    return ["validate", *request.to_args(), *JOB_OUTPUT_ARGS]


def build_validation_job(
    ctx: ModelContext,
    revision: str,
    *,
    baseline_accuracy: float | None,
    price_per_hour: float | None,
    weights_gib: float | None = None,
    baseline_outcomes: str | None = None,
    to_beat: ToBeat | None = None,
) -> dict[str, Any]:
    """The Job that validates `revision`; `baseline_outcomes` (the baseline's per-item results) makes the
    accuracy test paired."""
    v = ctx.spec.validation
    request = validation_request(
        ctx,
        revision,
        baseline_accuracy=baseline_accuracy,
        price_per_hour=price_per_hour,
        weights_gib=weights_gib,
        baseline_outcomes=baseline_outcomes,
        to_beat=to_beat,
    )
    workers = request.load.processes
    labels = {**common_labels(ctx.name), LABEL_COMPONENT: "validation", "quantop.dev/revision": revision}
    container: dict[str, Any] = {
        "name": "validate",
        "image": ctx.config.validation.image,
        "args": ["validate", *request.to_args(), *JOB_OUTPUT_ARGS],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        # One core per locust process (master + workers), or the client becomes what is measured.
        "resources": {
            "requests": {"cpu": str(workers + (1 if workers > 1 else 0)), "memory": f"{workers}Gi"},
            "limits": {"memory": f"{2 * workers}Gi"},
        },
        "securityContext": quantop_container_security_context(),
        # The root filesystem is read-only: reports, samples and plots go to the emptyDir at /tmp. The
        # dataset fetch refuses what the operator's probe refuses: the operator's fetch policy, as env.
        "env": [
            {"name": "MPLCONFIGDIR", "value": "/tmp"},
            {"name": "QUANTOP_REPORT_DIR", "value": "/tmp"},
            *({"name": k, "value": v} for k, v in ctx.config.fetch.env().items()),
        ],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    ref = v.accuracy.dataset.config_map_ref
    if ref is not None:
        volumes.append({"name": "dataset", "configMap": {"name": ref.name}})
        container["volumeMounts"].append({"name": "dataset", "mountPath": DATASET_MOUNT, "readOnly": True})
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": quantop_pod_security_context(),
        "containers": [container],
        "volumes": volumes,
    }
    if ctx.config.validation.service_account_name:
        pod_spec["serviceAccountName"] = ctx.config.validation.service_account_name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(validation_job_name(ctx.name, revision), ctx.namespace, labels, ctx.name, ctx.uid),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": math.ceil(parse_duration(v.timeout)),
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
