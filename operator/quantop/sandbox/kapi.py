"""An emulated Kubernetes API server: kmock, extended with what kopf and kubectl rely on.

kmock stores objects as plain JSON. A real API server also assigns uid, resourceVersion,
generation and creationTimestamp, answers 404 with a Status for missing objects, and names
the kind of a list; kopf and kubectl break without those (see shared/notes/kmock.md), so
this subclass adds them. It serves only 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import kmock
from kmock._internal import enums
from kmock._internal.k8s import KubernetesError

from quantop.api import GROUP, KIND, PLURAL, VERSION


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class ApiServerEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """kmock with server-assigned metadata and generation tracking."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)

    async def _handle(self, request: Any) -> Any:
        if request.resource is not None and isinstance(request.data, dict):
            if request.action == enums.action.CREATE:
                self._on_create(request)
            elif request.action == enums.action.UPDATE and request.name is not None:
                self._on_update(request)
        try:
            return await super()._handle(request)
        except KubernetesError as exc:
            # kmock lets these escape as HTTP 500; a real API server answers with a Status (404, 409).
            return await self._render_error(exc)

    def _on_create(self, request: Any) -> None:
        meta = request.data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if request.namespace and not meta.get("namespace"):
            meta["namespace"] = request.namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["generation"] = 1
        meta["resourceVersion"] = str(next(self._rv))

    def _on_update(self, request: Any) -> None:
        key = (request.resource, request.namespace, request.name)
        current = self.objects[key] if key in self.objects else None  # noqa: SIM401 - ObjectsArray has no .get
        meta = request.data.setdefault("metadata", {}) if isinstance(request.data.get("metadata", {}), dict) else {}
        meta["resourceVersion"] = str(next(self._rv))
        is_status = str(request.url.path).endswith("/status")
        if current is not None and not current.deleted and "spec" in request.data and not is_status:
            old_spec = current.get("spec")
            if old_spec != _merged(old_spec, request.data["spec"]):
                meta["generation"] = int(current.get("metadata", {}).get("generation", 1)) + 1


def _merged(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return patch
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merged(base.get(k), v)
    return out


def register_resources(api: ApiServerEmulator) -> None:
    api.resources.load_bundled()
    api.resources[f"{GROUP}/{VERSION}/{PLURAL}"] = kmock.ResourceInfo(
        kind=KIND,
        namespaced=True,
        singular="quantizedmodel",
        verbs=["list", "watch", "get", "create", "patch", "update", "delete"],
        shortnames=["qm"],
        subresources=["status"],
    )
    api.resources["monitoring.coreos.com/v1/podmonitors"] = kmock.ResourceInfo(
        kind="PodMonitor", namespaced=True, verbs=["list", "watch", "get", "create", "patch", "delete"]
    )
