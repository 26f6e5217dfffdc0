"""Services: one per revision (the candidate endpoint validation talks to) and the stable one users call."""

from __future__ import annotations

from typing import Any

from .context import ModelContext
from .names import (
    LABEL_COMPONENT,
    LABEL_ROLE,
    TGI_PORT,
    TGI_PORT_NAME,
    common_labels,
    revision_labels,
    revision_name,
    revision_selector,
    stable_service_name,
)
from .owner import object_meta

#: Stable Service selector before any revision has passed: matches no pod, so nothing unproven is exposed.
NO_REVISION = "none"


def _service(meta: dict[str, Any], selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": TGI_PORT_NAME, "port": 80, "targetPort": TGI_PORT_NAME, "protocol": "TCP"}],
        },
    }


def build_revision_service(ctx: ModelContext, revision: str | None = None) -> dict[str, Any]:
    """`<name>-<revision>`: reaches exactly one revision's pods (validation Jobs use it)."""
    revision = revision or ctx.revision
    labels = revision_labels(ctx.name, ctx.spec, revision)
    meta = object_meta(revision_name(ctx.name, revision), ctx.namespace, labels, ctx.name, ctx.uid)
    return _service(meta, revision_selector(ctx.name, revision))


def build_stable_service(ctx: ModelContext, stable_revision: str | None) -> dict[str, Any]:
    """`<name>`: what users call. Points at the promoted revision, or at no pod before the first promotion."""
    labels = {**common_labels(ctx.name), LABEL_COMPONENT: "server", LABEL_ROLE: "stable"}
    meta = object_meta(stable_service_name(ctx.name), ctx.namespace, labels, ctx.name, ctx.uid)
    return _service(meta, revision_selector(ctx.name, stable_revision or NO_REVISION))


__all__ = ["NO_REVISION", "TGI_PORT", "build_revision_service", "build_stable_service"]
