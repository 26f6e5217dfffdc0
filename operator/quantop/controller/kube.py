"""A small async Kubernetes client for the objects quantop owns.

kopf watches and patches QuantizedModels itself; everything else (Deployments, Services,
Jobs, Pods, PodMonitors, status) goes through this one class, so that every API call the
operator makes passes a single point: :attr:`KubeClient.calls` records (verb, group,
resource) pairs, which the RBAC test compares with the Helm chart's Role.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


RESOURCES: dict[str, Resource] = {
    "QuantizedModel": Resource("quantop.dev", "v1alpha1", "quantizedmodels"),
    "Deployment": Resource("apps", "v1", "deployments"),
    "Service": Resource("", "v1", "services"),
    "Job": Resource("batch", "v1", "jobs"),
    "Pod": Resource("", "v1", "pods"),
    "PodMonitor": Resource("monitoring.coreos.com", "v1", "podmonitors"),
}


#: Attempts of a GET (get or list) that met a transient failure (see :meth:`KubeClient._send`).
READ_ATTEMPTS = 2
RETRIED_READ_STATUSES = frozenset({429, 500, 502, 503, 504})
WRITE_VERBS = frozenset({"create", "patch", "delete"})


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str | None = None
    verify: bool | str = True
    cert: tuple[str, str] | None = None

    @classmethod
    def from_kopf(cls, info: Any) -> Credentials:
        """Build from a kopf.ConnectionInfo (the same login kopf uses)."""
        verify: bool | str = True
        if info.insecure:
            verify = False
        elif info.ca_path:
            verify = os.fsdecode(info.ca_path)
        elif info.ca_data:
            verify = _tempfile(info.ca_data)
        cert = None
        if info.certificate_path or info.certificate_data:
            cert_path = (
                os.fsdecode(info.certificate_path) if info.certificate_path else _tempfile(info.certificate_data)
            )
            key_path = os.fsdecode(info.private_key_path) if info.private_key_path else _tempfile(info.private_key_data)
            cert = (cert_path, key_path)
        return cls(server=info.server, token=info.token, verify=verify, cert=cert)


def _tempfile(data: str | bytes) -> str:
    raw = data if isinstance(data, bytes) else data.encode()
    if not raw.lstrip().startswith(b"-----"):
        raw = base64.b64decode(raw)
    fd, path = tempfile.mkstemp(prefix="quantop-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
    return path


class Journal(Protocol):
    """Hears what the API server answered to each write and live read (the watch-fed cache's read-your-writes)."""

    def wrote(self, kind: str, namespace: str, name: str, obj: Mapping[str, Any] | None) -> None:
        """A write (or live read) returned ``obj``; None: the object is gone."""

    def unsure(self, kind: str, namespace: str, name: str | None) -> None:
        """A write whose outcome is unknown (timeout, 5xx, transport error)."""

    def listed(self, kind: str, namespace: str, selector: Mapping[str, str], items: list[dict[str, Any]]) -> None:
        """A live list answered ``items``."""


@dataclass
class Counters:
    """What a client (and every view sharing it, see cache.CachedReads) sent."""

    calls: set[tuple[str, str, str]] = field(default_factory=set)
    writes: int = 0
    reads: int = 0


def selector_param(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items())


def matches(labels: Mapping[str, str] | None, selector: Mapping[str, str]) -> bool:
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


class KubeClient:
    """get/list/create/patch/delete on the resources in :data:`RESOURCES`."""

    def __init__(self, credentials: Credentials, *, timeout: float = 30.0) -> None:
        headers = {"Accept": "application/json"}
        if credentials.token:
            headers["Authorization"] = f"Bearer {credentials.token}"
        self._http = httpx.AsyncClient(
            base_url=credentials.server,
            headers=headers,
            verify=credentials.verify,
            cert=credentials.cert,
            timeout=timeout,
        )
        self.counters = Counters()
        #: Told of every write's answer and every live read (None: nothing listens).
        self.journal: Journal | None = None

    @property
    def calls(self) -> set[tuple[str, str, str]]:
        """Every (verb, group, resource[/subresource]) this client has called: the operator's real RBAC needs."""
        return self.counters.calls

    @property
    def writes(self) -> int:
        """Writes issued (create/patch/delete), for idempotency checks."""
        return self.counters.writes

    @property
    def reads(self) -> int:
        """Reads sent (get/list, a repeated one twice), for the idle cost of a resync (bench/bench_reconcile.py)."""
        return self.counters.reads

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        verb: str,
        kind: str,
        namespace: str | None,
        name: str | None = None,
        *,
        subresource: str | None = None,
        method: str = "GET",
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Any:
        res = RESOURCES[kind]
        self.calls.add((verb, res.group, res.plural + (f"/{subresource}" if subresource else "")))
        if verb in WRITE_VERBS:
            self.counters.writes += 1
        content = None if body is None else json.dumps(body).encode()
        try:
            response = await self._send(
                method,
                res.path(namespace, name, subresource),
                content=content,
                headers={"Content-Type": content_type} if content is not None else None,
                params=params,
            )
        except httpx.HTTPError:
            self._unsure(verb, kind, namespace, name)
            raise
        if response.status_code >= 500:
            self._unsure(verb, kind, namespace, name)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise KubeError(response.status_code, f"{method} {res.plural}/{name or ''}: {message}")
        return response.json() if response.content else {}

    def _unsure(self, verb: str, kind: str, namespace: str | None, name: str | None) -> None:
        """A write met a timeout, a cut connection or a 5xx: it may or may not have been applied."""
        if verb in WRITE_VERBS and self.journal is not None and namespace:
            self.journal.unsure(kind, namespace, name)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a read that failed in a way worth repeating is sent once more, at once.

        Reads have no side effects, and one lost read would fail the whole reconcile and wait for a
        backoff (under 10% faults most reconciles did). Writes are never repeated here: their outcome
        may be unknown, and the next reconcile decides again from what it reads.
        """
        attempts = READ_ATTEMPTS if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            if method == "GET":
                self.counters.reads += 1
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == attempts:
                    raise
                continue
            if response.status_code not in RETRIED_READ_STATUSES or attempt == attempts:
                return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._request("get", kind, namespace, name)
        if self.journal is not None:
            self.journal.wrote(kind, namespace, name, result)
        return result

    async def list_versioned(
        self, kind: str, namespace: str | None, selector: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], str]:
        """The matching objects and the list's resourceVersion (where a watch of changes since starts)."""
        params = {"labelSelector": selector_param(selector)}
        data = await self._request("list", kind, namespace, params=params) or {}
        version = str((data.get("metadata") or {}).get("resourceVersion") or "")
        # Filter again: some API emulators ignore labelSelector.
        items = [o for o in data.get("items", []) if matches(o.get("metadata", {}).get("labels"), selector)]
        return items, version

    async def list(self, kind: str, namespace: str, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        items, _ = await self.list_versioned(kind, namespace, selector)
        if self.journal is not None:
            self.journal.listed(kind, namespace, selector, items)
        return items

    async def watch(
        self,
        kind: str,
        namespace: str | None,
        selector: Mapping[str, str],
        since: str,
        *,
        seconds: int,
        max_line: int,
    ) -> AsyncGenerator[bytes, None]:
        """The lines of a watch of changes after resourceVersion ``since`` (one JSON event each).

        A line longer than ``max_line`` raises ValueError (the caller relists). The server ends the
        stream after ``seconds``; the read timeout allows for that, plus the usual request timeout.
        """
        res = RESOURCES[kind]
        self.calls.add(("watch", res.group, res.plural))
        params = {
            "watch": "true",
            "resourceVersion": since,
            "labelSelector": selector_param(selector),
            "timeoutSeconds": str(seconds),
            "allowWatchBookmarks": "true",
        }
        timeout = httpx.Timeout(self._http.timeout.connect, read=seconds + (self._http.timeout.read or 30.0))
        path = res.path(namespace)
        async with self._http.stream("GET", path, params=params, timeout=timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                raise KubeError(response.status_code, f"watch {res.plural}: {response.text[:200]}")
            async for line in _lines(response.aiter_bytes(), max_line):
                yield line

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        ns = obj["metadata"].get("namespace")
        result = await self._request("create", obj["kind"], ns, method="POST", body=obj)
        if result is None:
            raise KubeError(404, f"create {obj['kind']}: namespace {ns} or resource not found")
        if self.journal is not None and ns:
            self.journal.wrote(obj["kind"], ns, obj["metadata"]["name"], result)
        return dict(result)

    async def patch(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._request(
            "patch",
            kind,
            namespace,
            name,
            subresource=subresource,
            method="PATCH",
            body=patch,
            content_type="application/merge-patch+json",
        )
        if self.journal is not None:
            self.journal.wrote(kind, namespace, name, result)
        return result

    async def delete(self, kind: str, namespace: str, name: str) -> bool:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        result = await self._request("delete", kind, namespace, name, method="DELETE", body=body)
        if self.journal is not None:
            self.journal.wrote(kind, namespace, name, None)
        return result is not None


async def _lines(chunks: AsyncIterator[bytes], max_line: int) -> AsyncIterator[bytes]:
    """Split a byte stream into lines, refusing (ValueError) any line longer than ``max_line``."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if len(line) > max_line:
                raise ValueError(f"a watch line of {len(line)} bytes (cap {max_line})")
            if line.strip():
                yield line
        if len(buffer) > max_line:
            raise ValueError(f"a watch line of over {max_line} bytes")
    if buffer.strip():
        yield buffer
