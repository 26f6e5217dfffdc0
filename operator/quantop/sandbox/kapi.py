"""An emulated Kubernetes API server: kmock, extended with what kopf and kubectl rely on.

kmock stores objects as plain JSON. A real API server also assigns uid, resourceVersion,
generation and creationTimestamp; refuses invalid names, labels and (for the CRD) objects that
break its schema or CEL rules (admission.py); honours fieldSelector, labelSelector and
resourceVersion on lists and watches; renders Tables for kubectl (tables.py); serves OpenAPI v3
(openapi.py) and events.k8s.io Events (events.py). kopf and kubectl break, or tests see less
than a cluster would show, without those (see shared/notes/kmock.md). It serves only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import enums
from kmock._internal.k8s import KubernetesError

from quantop.api import GROUP, KIND, PLURAL, VERSION
from quantop.api.timestamps import now_rfc3339

from . import admission, events, openapi, tables
from .selectors import SelectorError, query_matcher, selector_event, watch_requested

View = Callable[[Mapping[str, Any]], dict[str, Any]]
_CORE_EVENTS = kmock.resource("", "v1", "events")


def _same(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj)


def status_response(code: int, reason: str, message: str, **extra: Any) -> aiohttp.web.Response:
    body = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": code}
    return aiohttp.web.json_response({**body, "reason": reason, "message": message, **extra}, status=code)


class ApiServerEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """kmock with server-assigned metadata, admission, selectors, Tables and OpenAPI."""

    #: Requests remembered: all of them for tests that assert on them, a few for the long-running sandbox.
    request_history: int | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)
        self._last_rv = 0

    def _next_rv(self) -> str:
        self._last_rv = next(self._rv)
        return str(self._last_rv)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Bodies the emulator cannot read are a 415, as from an API server that lacks the codec.

        kubectl sends built-in kinds as protobuf (`kubectl create configmap`), which kmock fails to
        parse with a traceback; a real API server answers such a body in a format it does not serve with 415.
        """
        if "protobuf" in raw_request.headers.get("Content-Type", "") and raw_request.can_read_body:
            return status_response(
                415,
                "UnsupportedMediaType",
                "the sandbox's API server reads JSON bodies only; apply a manifest (kubectl apply -f) instead",
            )
        return await super().__call__(raw_request)  # type: ignore[no-any-return]

    async def _handle(self, request: Any) -> Any:
        # kmock keeps every request for test assertions and matches each new one by scanning that
        # history, so a long-running sandbox slows down quadratically; it keeps only the recent past.
        if self.request_history is not None and len(self._requests) > self.request_history:
            del self._requests[: -self.request_history]
        try:
            answered = await self._answer(request)
            if answered is not None:
                return answered
            return await super()._handle(request)
        except SelectorError as exc:
            return status_response(400, "BadRequest", str(exc))
        except KubernetesError as exc:
            return await self._kubernetes_error(request, exc)

    async def _answer(self, request: Any) -> aiohttp.web.StreamResponse | None:
        """What this subclass answers itself; None leaves the request to kmock."""
        path = str(request.url.path)
        if path.startswith(openapi.ROOT):
            doc = openapi.document(path)
            if doc is None:
                return status_response(404, "NotFound", f"the server could not find the requested resource ({path})")
            return aiohttp.web.json_response(doc)
        res = request.resource
        if _is_put(request) and res is not None and request.name and not isinstance(request.data, dict):
            return status_response(
                400, "BadRequest", "the request body must be a JSON object (YAML and protobuf are not served)"
            )
        if _is_put(request) and res is not None and request.name:
            # kmock knows no PUT: the whole object is admitted as a replacement, then stored as a patch.
            request = attrs.evolve(request, action=enums.action.UPDATE, data=_Replacement(request.data))
        if res is None or request.action is None or not res.plural:  # discovery: /apis/<group>/<version>
            return None
        source: Any = res
        view: View = _same
        if events.is_events_v1(res.group, res.plural):
            source, view = _CORE_EVENTS, events.as_events_v1
        if request.action == enums.action.WATCH or (
            request.action == enums.action.LIST and watch_requested(request.params)
        ):
            return await self._watch(request, source, view)
        if request.action == enums.action.LIST:
            return await self._list(request, source, view)
        if request.action == enums.action.FETCH and (source is not res or self._wants_table(request)):
            return await self._fetch(request, source, view)
        if request.action in (enums.action.CREATE, enums.action.UPDATE) and isinstance(request.data, dict):
            return await self._admit(request)
        return None

    # --- reads ------------------------------------------------------------------------------

    def _wants_table(self, request: Any) -> bool:
        return tables.wants_table(request.headers.get("Accept", ""))

    def _known(self, res: Any) -> bool:
        return any(r == res for r in self._get_resources())

    def _stored(self, res: Any, namespace: str | None, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for (r, ns, n), obj in self.objects.items():
            wanted = r == res and (namespace is None or ns == namespace) and (name is None or n == name)
            if wanted and not obj.deleted:
                out.append(obj.raw)
        return out

    async def _list(self, request: Any, source: Any, view: View) -> aiohttp.web.StreamResponse:
        res = request.resource
        if not self._known(res):
            return status_response(404, "NotFound", f"the server could not find the requested resource ({res.plural})")
        matches = query_matcher(request.params)
        async with self._lock:
            items = [view(o) for o in self._stored(source, request.namespace)]
            version = str(self._last_rv)
        items = [i for i in items if matches(i)]
        if self._wants_table(request):
            return aiohttp.web.json_response(tables.table(res.plural, items, resource_version=version))
        kind = self._kind(res) if res in self.resources else ""
        group_version = f"{res.group}/{res.version}" if res.group else res.version
        payload = {"apiVersion": group_version, "kind": f"{kind}List", "metadata": {"resourceVersion": version}}
        return aiohttp.web.json_response({**payload, "items": items})

    async def _fetch(self, request: Any, source: Any, view: View) -> aiohttp.web.StreamResponse:
        async with self._lock:
            found = self._stored(source, request.namespace, request.name)
        if not found or request.name is None:
            raise KubernetesError(status=404)
        obj = view(found[0])
        if self._wants_table(request):
            return aiohttp.web.json_response(tables.table(request.resource.plural, [obj]))
        return aiohttp.web.json_response(obj)

    async def _watch(self, request: Any, source: Any, view: View) -> aiohttp.web.StreamResponse:
        """JSON lines (kmock sends octet-stream, which kubectl refuses), filtered by selectors and
        resourceVersion: a watch from a list's version gets only what changed since, not a replay."""
        matches = query_matcher(request.params)
        since = _int(request.params.get("resourceVersion"))
        timeout = _int(request.params.get("timeoutSeconds")) or None
        as_table = self._wants_table(request)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        headers_sent = False
        #: Objects this watch last sent as matching its selectors: leaving them is a DELETED.
        matching: set[tuple[str | None, str | None]] = set()

        async def send(event_type: str, raw: dict[str, Any]) -> None:
            nonlocal headers_sent
            obj = view(raw)
            key = _key(obj)
            kind = selector_event(event_type, key in matching, matches(obj))
            if kind is None:
                return
            (matching.discard if kind == "DELETED" else matching.add)(key)
            if as_table:
                obj = tables.table(request.resource.plural, [obj], headers=not headers_sent)
                headers_sent = True
            await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        bus = self._buses[source]
        mark = await bus.mark()  # before the snapshot: nothing written in between is lost
        try:
            async with self._lock:
                stored = self._stored(source, request.namespace, request.name)
            initial = [o for o in stored if not since or _rv(o) > since]
            # What the client's list at `since` held: those change as MODIFIED, not ADDED.
            matching.update(_key(view(o)) for o in stored if since and _rv(o) <= since and matches(view(o)))
            # Headers only once the mark is set, as a real server answers once its watch is in place.
            await response.prepare(request._raw_request)
            with contextlib.suppress(ConnectionError, TimeoutError):
                for obj in initial:
                    await send("ADDED", obj)
                async with asyncio.timeout(timeout):
                    async for event in bus.stream(since=mark):
                        meta = (event.get("object") or {}).get("metadata") or {}
                        if request.namespace not in (None, meta.get("namespace")):
                            continue
                        if request.name not in (None, meta.get("name")):
                            continue
                        await send(event["type"], event["object"])
        finally:
            await bus.unmark(mark)
        return response

    # --- writes -----------------------------------------------------------------------------

    async def _admit(self, request: Any) -> aiohttp.web.StreamResponse | None:
        """Refuse what kube-apiserver refuses; otherwise rewrite the request so kmock stores the admitted object."""
        res, data = request.resource, request.data
        custom = (res.group, res.version, res.plural) == (GROUP, VERSION, PLURAL)
        async with self._lock:
            current = self._current(request)
        if request.action == enums.action.UPDATE and current is None:
            raise KubernetesError(status=404)
        if current is not None and _stale(data, current):
            return status_response(409, "Conflict", _conflict_message(res, current))
        proposed = self._proposed(request, current, custom=custom)
        verdict = admission.admit(res.plural, proposed, custom=custom)
        name = str(proposed.get("metadata", {}).get("name") or "")
        if verdict.invalid:
            kind = self._kind(res)
            return aiohttp.web.json_response(
                admission.invalid_status(kind, res.group, name, verdict.invalid), status=422
            )
        if verdict.unknown and request.params.get("fieldValidation") == "Strict":
            return aiohttp.web.json_response(
                admission.strict_decoding_status(KIND, VERSION, verdict.unknown), status=400
            )
        if request.params.get("dryRun"):
            return aiohttp.web.json_response(verdict.obj, status=201 if current is None else 200)
        self._stamp(verdict.obj, current, is_status=request.subresource == "status")
        data.clear()
        data.update(verdict.obj if current is None else _merge_patch(current, verdict.obj))
        response: aiohttp.web.StreamResponse
        if isinstance(data, _Replacement):
            response = await self._store_replacement(request, data)
        else:
            response = await super()._handle(request)
        if verdict.warnings and request.params.get("fieldValidation") != "Ignore":
            quoted = (w.replace("\\", "\\\\").replace('"', '\\"') for w in verdict.warnings)
            response.headers["Warning"] = ", ".join(f'299 - "{w}"' for w in quoted)
        return response

    async def _store_replacement(self, request: Any, patch: dict[str, Any]) -> aiohttp.web.Response:
        """A PUT, stored as kmock stores an update (kmock routes no PUT): patch, then a MODIFIED event."""
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            self.objects[key].patch(patch)
            raw = self.objects[key].raw
            await self._buses[request.resource].put({"type": "MODIFIED", "object": raw})
        return aiohttp.web.json_response(raw)

    def _current(self, request: Any) -> dict[str, Any] | None:
        meta = request.data.get("metadata") or {}
        name = request.name or meta.get("name")
        namespace = request.namespace or meta.get("namespace")
        if request.action == enums.action.CREATE and not name:
            return None
        found = self._stored(request.resource, namespace, name) if name else []
        if request.action == enums.action.CREATE and found:
            raise KubernetesError(status=409)
        return found[0] if found and request.action == enums.action.UPDATE else None

    def _proposed(self, request: Any, current: dict[str, Any] | None, *, custom: bool) -> dict[str, Any]:
        """The whole object as it would be stored: a create's body, a PUT's body, or current + merge patch."""
        data = json.loads(json.dumps(request.data))
        meta = data.setdefault("metadata", {})
        if current is None:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            if request.namespace and not meta.get("namespace"):
                meta["namespace"] = request.namespace
            return dict(data)
        whole = data if isinstance(request.data, _Replacement) else dict(_merged(current, data))
        if not custom:
            return whole
        # With a status subresource (the CRD has one), each endpoint writes only its part: /status the
        # status, the object everything else. A status sent to the wrong one is dropped, as on a cluster.
        if request.subresource == "status":
            kept = {k: v for k, v in current.items() if k != "status"}
            return {**kept, "status": whole["status"]} if whole.get("status") is not None else kept
        whole.pop("status", None)
        return {**whole, "status": current["status"]} if "status" in current else whole

    def _stamp(self, obj: dict[str, Any], current: dict[str, Any] | None, *, is_status: bool) -> None:
        """Server-assigned metadata: uid, creationTimestamp, generation (bumped by spec changes), resourceVersion."""
        meta = obj.setdefault("metadata", {})
        if current is None:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            meta["generation"] = 1
        else:
            old = current.get("metadata", {})
            for key in ("uid", "creationTimestamp"):
                if key in old:
                    meta[key] = old[key]
            generation = int(old.get("generation", 1))
            meta["generation"] = generation + (not is_status and obj.get("spec") != current.get("spec"))
        meta["resourceVersion"] = self._next_rv()

    def _kind(self, res: Any) -> str:
        info = self.resources[res] if res in self.resources else None  # noqa: SIM401 - no .get on ResourcesArray
        return getattr(info, "kind", None) or str(res.plural)

    async def _kubernetes_error(self, request: Any, exc: KubernetesError) -> aiohttp.web.StreamResponse:
        """kmock lets these escape as HTTP 500; a real API server answers with a Status whose reason is a
        StatusReason (NotFound, AlreadyExists), which kubectl prints."""
        reason = {404: "NotFound", 409: "AlreadyExists"}.get(exc.status)
        if reason is None:
            return await self._render_error(exc)  # type: ignore[no-any-return]
        return status_response(exc.status, reason, _status_message(request, exc.status))

    async def _serve_version(self, request: Any) -> Any:
        """Discovery without short names on subresources (kubectl warns about `qm` matching twice)."""
        payload = await super()._serve_version(request)
        if isinstance(payload, dict):
            if payload.get("groupVersion") == "/v1":
                payload["groupVersion"] = "v1"  # kmock writes "/v1" for the core group
            for entry in payload.get("resources", []):
                if "/" in entry.get("name", ""):
                    entry.pop("shortNames", None)
        return payload


class _Replacement(dict[str, Any]):
    """The body of a PUT: admitted as the whole new object, not merged into the current one."""


def _stale(data: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """A write that names a resourceVersion applies only to that version (optimistic concurrency)."""
    wanted = (data.get("metadata") or {}).get("resourceVersion")
    return bool(wanted) and str(wanted) != str((current.get("metadata") or {}).get("resourceVersion"))


def _conflict_message(res: Any, current: Mapping[str, Any]) -> str:
    qualified = f"{res.plural}.{res.group}" if res.group else res.plural
    name = (current.get("metadata") or {}).get("name", "")
    return (
        f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def _is_put(request: Any) -> bool:
    return request.action is None and str(request.method).upper().endswith("PUT")


def _status_message(request: Any, code: int) -> str:
    if code == 409:
        return "already exists"
    if request.resource is None:  # not an API resource, e.g. /openapi/v2, which the sandbox does not serve
        return f"the server could not find the requested resource ({request.url.path})"
    return f'{request.resource.plural} "{request.name or ""}" not found'


def _key(obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace"), meta.get("name")


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def _rv(obj: Mapping[str, Any]) -> int:
    return _int(str((obj.get("metadata") or {}).get("resourceVersion", "")))


def _merged(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return patch
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merged(base.get(k), v)
    return out


def _merge_patch(current: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that turns current into target (kmock stores updates as merge patches)."""
    patch: dict[str, Any] = {key: None for key in current if key not in target}
    for key, value in target.items():
        old = current.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            sub = _merge_patch(old, value)
            if sub:
                patch[key] = sub
        elif key not in current or old != value:
            patch[key] = value
    return patch


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
