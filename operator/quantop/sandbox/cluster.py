"""Run the real operator (kopf) against the emulated API server, in-process.

Used by the integration tests and, later, by `quantop sandbox`. kopf runs in its own thread
and event loop (KopfRunner); the API server runs in the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import kmock
from kopf.testing import KopfRunner

from quantop.api import API_VERSION, PLURAL

from .kapi import ApiServerEmulator, register_resources

QM_PATH = f"/apis/{API_VERSION}/namespaces/{{ns}}/{PLURAL}"


@dataclass
class Cluster:
    api: ApiServerEmulator
    http: httpx.AsyncClient

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        ns = obj["metadata"].get("namespace", "default")
        res = await self.http.post(_collection(obj, ns), json=dict(obj))
        res.raise_for_status()
        return dict(res.json())

    async def get(self, api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        res = await self.http.get(f"{prefix}/namespaces/{namespace}/{plural}/{name}")
        return None if res.status_code == 404 else dict(res.json())

    async def list(self, api_version: str, plural: str, namespace: str) -> list[dict[str, Any]]:
        prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        res = await self.http.get(f"{prefix}/namespaces/{namespace}/{plural}")
        items: list[dict[str, Any]] = res.json().get("items", [])
        return [i for i in items if i.get("metadata", {}).get("namespace", namespace) == namespace]

    async def patch(self, api_version: str, plural: str, namespace: str, name: str, patch: Any) -> dict[str, Any]:
        prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        res = await self.http.patch(
            f"{prefix}/namespaces/{namespace}/{plural}/{name}",
            json=patch,
            headers={"Content-Type": "application/merge-patch+json"},
        )
        res.raise_for_status()
        return dict(res.json())

    async def qm(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get(API_VERSION, PLURAL, namespace, name)

    async def wait_for(self, fetch: Callable[[], Any], predicate: Callable[[Any], bool], timeout: float = 20.0) -> Any:
        """Poll until predicate(value) holds; on timeout raise with the last value seen."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = await fetch()
            if predicate(value):
                return value
            await asyncio.sleep(0.1)
        raise TimeoutError(f"condition not met within {timeout}s; last value: {value!r}")


def _collection(obj: Mapping[str, Any], ns: str) -> str:
    api_version, kind = obj["apiVersion"], obj["kind"]
    plurals = {"QuantizedModel": PLURAL, "Deployment": "deployments", "Service": "services", "Secret": "secrets"}
    plural = plurals.get(kind) or kind.lower() + "s"
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    return f"{prefix}/namespaces/{ns}/{plural}"


@contextlib.asynccontextmanager
async def api_server() -> AsyncIterator[Cluster]:
    api = ApiServerEmulator()
    async with kmock.Server(api):
        register_resources(api)
        async with httpx.AsyncClient(base_url=str(api.url)) as http:
            yield Cluster(api=api, http=http)


@contextlib.asynccontextmanager
async def operator(
    cluster: Cluster, *, config: str | None = None, resync_seconds: float = 1.0
) -> AsyncIterator[KopfRunner]:
    """The real quantop operator (kopf, in a thread) against the emulated API server; stopped on exit.

    The emulated API server runs on this event loop, and kopf talks to it while it shuts down
    (cancelled handlers persist their progress). So the stop is awaited in a worker thread: joining
    kopf's thread here would block the loop that must answer it, and both would wait for a timeout.
    """
    os.environ["QUANTOP_KUBE_API"] = str(cluster.api.url)
    os.environ["QUANTOP_RESYNC_SECONDS"] = str(resync_seconds)
    if config:
        os.environ["QUANTOP_CONFIG"] = config
    args = ["run", "-A", "--standalone", "-m", "quantop.controller.handlers"]
    runner = KopfRunner(args, timeout=60)
    runner.__enter__()
    try:
        yield runner
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)
