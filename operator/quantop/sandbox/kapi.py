"""An emulated Kubernetes API server: kmock, extended with what kopf and kubectl rely on.

kmock stores objects as plain JSON. A real API server also assigns uid, resourceVersion,
generation and creationTimestamp, answers 404 with a Status for missing objects, and names
the kind of a list; kopf and kubectl break without those (see shared/notes/kmock.md), so
this subclass adds them. It serves only 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import uuid
from typing import Any

import aiohttp.web
import kmock
from kmock._internal import enums
from kmock._internal.k8s import KubernetesError

from quantop.api import GROUP, KIND, PLURAL, VERSION
from quantop.api.crd import PRINTER_COLUMNS
from quantop.api.timestamps import now_rfc3339, parse_rfc3339


class ApiServerEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """kmock with server-assigned metadata and generation tracking."""

    #: Requests remembered: all of them for tests that assert on them, a few for the long-running sandbox.
    request_history: int | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)

    async def _handle(self, request: Any) -> Any:
        # kmock keeps every request for test assertions and matches each new one by scanning that
        # history, so a long-running sandbox slows down quadratically; it keeps only the recent past.
        if self.request_history is not None and len(self._requests) > self.request_history:
            del self._requests[: -self.request_history]
        if request.resource is not None and isinstance(request.data, dict):
            if request.action == enums.action.CREATE:
                self._on_create(request)
            elif request.action == enums.action.UPDATE and request.name is not None:
                self._on_update(request)
        if request.resource is not None and request.action == enums.action.WATCH:
            return await self._watch_as_json(request)
        try:
            return await super()._handle(request)
        except KubernetesError as exc:
            # kmock lets these escape as HTTP 500; a real API server answers with a Status whose reason
            # is a StatusReason (NotFound, AlreadyExists), which kubectl prints.
            response = await self._render_error(exc)
            reason = {404: "NotFound", 409: "AlreadyExists"}.get(exc.status)
            if reason is not None:
                return aiohttp.web.json_response(
                    {
                        "apiVersion": "v1",
                        "kind": "Status",
                        "metadata": {},
                        "status": "Failure",
                        "code": exc.status,
                        "reason": reason,
                        "message": _status_message(request, exc.status),
                    },
                    status=exc.status,
                )
            return response

    async def _serve_list(self, request: Any) -> Any:
        """Lists name their kind (kubectl needs it) and QuantizedModels render as a Table with printer columns."""
        payload = await super()._serve_list(request)
        res = request.resource
        info = self.resources.get(res) if hasattr(self.resources, "get") else None
        kind = getattr(info, "kind", None) or ""
        group_version = f"{res.group}/{res.version}" if res.group else res.version
        payload = {"apiVersion": group_version, "kind": f"{kind}List", **dict(payload)}  # type: ignore[arg-type]
        selector = request.url.query.get("fieldSelector") if hasattr(request, "url") else None
        if selector and isinstance(payload.get("items"), list):
            # kubectl describe lists Events with fieldSelector=involvedObject.name=...; kmock ignores it.
            payload["items"] = [i for i in payload["items"] if field_selector_matches(i, selector)]
        if res.plural == PLURAL and "as=Table" in request.headers.get("Accept", ""):
            return printer_table(payload["items"])
        return payload

    async def _watch_as_json(self, request: Any) -> Any:
        """Watch streams are JSON lines; kmock sends them as application/octet-stream, which kubectl refuses."""
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)
        with contextlib.suppress(ConnectionError):
            async for event in self._serve_watch(request):
                if isinstance(event, dict):
                    await response.write(json.dumps(event).encode() + b"\n")
        return response

    async def _serve_version(self, request: Any) -> Any:
        """Discovery without short names on subresources (kubectl warns about `qm` matching twice)."""
        payload = await super()._serve_version(request)
        for entry in payload.get("resources", []) if isinstance(payload, dict) else []:
            if "/" in entry.get("name", ""):
                entry.pop("shortNames", None)
        return payload

    def _on_create(self, request: Any) -> None:
        meta = request.data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if request.namespace and not meta.get("namespace"):
            meta["namespace"] = request.namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
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


def _status_message(request: Any, code: int) -> str:
    if code == 409:
        return "already exists"
    if request.resource is None:  # not an API resource, e.g. /openapi/v2, which the sandbox does not serve
        return f"the server could not find the requested resource ({request.url.path})"
    return f'{request.resource.plural} "{request.name or ""}" not found'


def field_selector_matches(obj: Any, selector: str) -> bool:
    """`a.b=c,d!=e` as the API server reads a fieldSelector (only =, == and !=)."""
    for term in filter(None, selector.split(",")):
        negate = "!=" in term
        path, _, value = term.replace("!=", "=").replace("==", "=").partition("=")
        actual = _jsonpath(obj, path)
        if (str(actual) if actual is not None else "") == value and negate:
            return False
        if (str(actual) if actual is not None else "") != value and not negate:
            return False
    return True


def _jsonpath(obj: Any, path: str) -> Any:
    for part in path.strip(".").split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    created = parse_rfc3339(timestamp)
    assert created is not None
    seconds = int((dt.datetime.now(dt.UTC) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def printer_table(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A meta.k8s.io Table built from the CRD's printer columns, as a real API server renders it."""
    columns = [{"name": "Name", "type": "string", "format": "name", "priority": 0, "description": "Name"}]
    columns += [
        {
            "name": c["name"],
            "type": c["type"],
            "format": "",
            "priority": c.get("priority", 0),
            "description": c.get("description", ""),
        }
        for c in PRINTER_COLUMNS
    ]
    rows = []
    for item in items:
        cells: list[Any] = [item["metadata"]["name"]]
        for c in PRINTER_COLUMNS:
            value = _jsonpath(item, c["jsonPath"])
            if c["type"] == "date":
                value = _age(value)
            elif c["type"] == "number" and isinstance(value, float):
                value = round(value, 4)
            cells.append(value)
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": item["metadata"],
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": columns,
        "rows": rows,
    }


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
