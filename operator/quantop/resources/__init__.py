"""Pure builders: a validated spec (+ GPU profile) in, Kubernetes manifests (plain dicts) out."""

from __future__ import annotations

from typing import Any

from .context import ModelContext, UnknownGpuProfile, make_context
from .deployment import build_deployment, tgi_args
from .names import (
    ANNOTATION_PROMOTE,
    ANNOTATION_ROLLBACK,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_REVISION,
    LABEL_ROLE,
    MANAGED_BY,
    revision_name,
    revision_of,
    serving_fields,
    stable_service_name,
)
from .pod_monitor import build_pod_monitor
from .services import NO_REVISION, build_revision_service, build_stable_service
from .vllm import vllm_args


def build_all(ctx: ModelContext, stable_revision: str | None, *, pod_monitor: bool = True) -> list[dict[str, Any]]:
    """Every object of the current revision plus the stable Service, in apply order."""
    objects = [build_deployment(ctx), build_revision_service(ctx), build_stable_service(ctx, stable_revision)]
    if pod_monitor and ctx.spec.monitoring.pod_monitor:
        objects.append(build_pod_monitor(ctx))
    return objects


__all__ = [
    "ANNOTATION_PROMOTE",
    "ANNOTATION_ROLLBACK",
    "LABEL_INSTANCE",
    "LABEL_MANAGED_BY",
    "LABEL_REVISION",
    "LABEL_ROLE",
    "MANAGED_BY",
    "NO_REVISION",
    "ModelContext",
    "UnknownGpuProfile",
    "build_all",
    "build_deployment",
    "build_pod_monitor",
    "build_revision_service",
    "build_stable_service",
    "make_context",
    "revision_name",
    "revision_of",
    "serving_fields",
    "stable_service_name",
    "tgi_args",
    "vllm_args",
]
