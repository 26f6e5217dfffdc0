"""The validation Job: `quantop validate` against one revision's Service, result in the termination message."""

from __future__ import annotations

import math
from typing import Any

from quantop.api import parse_duration

from .context import ModelContext
from .names import LABEL_COMPONENT, common_labels, revision_name
from .owner import object_meta

DATASET_MOUNT = "/var/run/quantop/dataset"


def validation_job_name(name: str, revision: str) -> str:
    return f"{revision_name(name, revision)}-validate"


def revision_endpoint(ctx: ModelContext, revision: str) -> str:
    return f"http://{revision_name(ctx.name, revision)}.{ctx.namespace}.svc:80"


#: Streams one locust process drives without adding latency of its own (bench/bench_validate.py:
#: 1000 streams at 1.2 ms scheduling delay p99 on a 2-core machine).
STREAMS_PER_WORKER = 1000


def load_workers(users: int, workers: int) -> int:
    """Locust processes for the load: the spec's number, or one per STREAMS_PER_WORKER users."""
    return workers or max(1, math.ceil(users / STREAMS_PER_WORKER))


def validate_args(
    ctx: ModelContext,
    revision: str,
    *,
    baseline_accuracy: float | None,
    price_per_hour: float | None,
    weights_gib: float | None = None,
    endpoint: str | None = None,
) -> list[str]:
    """The `quantop validate` command line; every value comes from the spec, none from a Secret."""
    v = ctx.spec.validation
    args = [
        "validate",
        "--endpoint",
        endpoint or revision_endpoint(ctx, revision),
        "--users",
        str(v.load.users),
        "--duration",
        v.load.duration,
        "--warmup",
        v.load.warmup,
        "--max-new-tokens",
        str(v.load.max_new_tokens),
        "--metric",
        v.accuracy.metric.value,
        "--samples",
        str(v.accuracy.samples),
        "--accuracy-concurrency",
        str(v.accuracy.concurrency),
        "--slo-max-error-rate",
        str(v.slo.max_error_rate),
        "--label",
        ctx.spec.quantization.method.value,
        "--revision",
        revision,
        "--replicas",
        str(max(ctx.spec.serving.replicas, 1)),
        "--gpu-count",
        str(ctx.spec.gpu.count),
        "--termination-log",
        "/dev/termination-log",
        "--no-progress",
    ]
    workers = load_workers(v.load.users, v.load.workers)
    if workers > 1:
        args += ["--workers", str(workers)]
    ds = v.accuracy.dataset
    if ds.builtin:
        args += ["--dataset", f"builtin:{ds.builtin}"]
    elif ds.config_map_ref:
        args += ["--dataset", f"{DATASET_MOUNT}/{ds.config_map_ref.key}"]
    elif ds.url:
        args += ["--dataset", ds.url]
    for src, dst in sorted(ds.field_map.items()):
        args += ["--field-map", f"{src}={dst}"]
    for flag, value in (
        ("--slo-p95-ms", v.slo.p95_latency_ms),
        ("--slo-p99-ms", v.slo.p99_latency_ms),
        ("--slo-ttft-p95-ms", v.slo.ttft_p95_ms),
        ("--slo-min-rps", v.slo.min_requests_per_second),
        ("--baseline-accuracy", baseline_accuracy),
        ("--min-accuracy", v.baseline.min_accuracy),
        ("--gpu-price-per-hour", price_per_hour),
        ("--weights-gib", weights_gib),
    ):
        if value is not None:
            args += [flag, f"{value:g}"]
    if baseline_accuracy is not None:
        args += ["--max-accuracy-drop", f"{v.baseline.max_accuracy_drop:g}"]
    return args


def build_validation_job(
    ctx: ModelContext,
    revision: str,
    *,
    baseline_accuracy: float | None,
    price_per_hour: float | None,
    weights_gib: float | None = None,
) -> dict[str, Any]:
    v = ctx.spec.validation
    workers = load_workers(v.load.users, v.load.workers)
    labels = {**common_labels(ctx.name), LABEL_COMPONENT: "validation", "quantop.dev/revision": revision}
    container: dict[str, Any] = {
        "name": "validate",
        "image": ctx.config.validation.image,
        "args": validate_args(
            ctx, revision, baseline_accuracy=baseline_accuracy, price_per_hour=price_per_hour, weights_gib=weights_gib
        ),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        # One core per locust process (master + workers), or the client becomes what is measured.
        "resources": {
            "requests": {"cpu": str(workers + (1 if workers > 1 else 0)), "memory": f"{workers}Gi"},
            "limits": {"memory": f"{2 * workers}Gi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # The root filesystem is read-only: reports, samples and plots go to the emptyDir at /tmp.
        "env": [{"name": "MPLCONFIGDIR", "value": "/tmp"}, {"name": "QUANTOP_REPORT_DIR", "value": "/tmp"}],
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
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
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
