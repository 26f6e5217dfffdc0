"""Watch-fed reads for the level-triggered resync, so that an idle resync costs about no API read.

:class:`Cache` keeps one :class:`~.store.Store` per cached kind (per namespace when the operator
watches given namespaces, one for all otherwise), started on first use, and hears every write
and live read of the live :class:`KubeClient` (its journal), so a store answers only once it
holds what quantop last wrote or saw. :class:`CachedReads` is the client the resync reconciles
with: reads from a store when :func:`~.store.freshness` allows, live otherwise (a miss too);
writes go to the live client. Reconciles caused by an event keep the live client: no decision
waits for a watch to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Mapping, Sequence
from typing import Any

from quantop.resources import LABEL_MANAGED_BY, MANAGED_BY

from .kube import KubeClient, matches
from .store import STALE_AFTER_SECONDS, Pending, Read, Store, satisfied, version_of
from .watch import Watcher

#: The kinds the resync reads from stores (the chart grants them list and watch; tests/unit/chart derives it).
#: Without the Prometheus Operator the PodMonitor store never syncs (its LIST answers 404): its reads stay live.
CACHED_KINDS = ("Deployment", "Service", "Job", "Pod", "PodMonitor")
#: What every object quantop creates carries (pods get it from their template).
CACHE_SELECTOR: Mapping[str, str] = {LABEL_MANAGED_BY: MANAGED_BY}


class Cache:
    """The stores, their watches, and the records of what quantop wrote or read live (a kube.Journal)."""

    def __init__(self, live: KubeClient, *, namespaces: Sequence[str] = ()) -> None:
        self.live = live
        #: Watched namespaces; empty: the operator is cluster-wide, and so is each store.
        self.namespaces = tuple(namespaces)
        self.stores: dict[tuple[str, str | None], Store] = {}
        self.watchers: dict[tuple[str, str | None], Watcher] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: QuantizedModels: the version a body must have reached to be trusted (kopf's watch feeds the bodies).
        self.models: dict[tuple[str, str], Pending] = {}
        live.journal = self

    def store(self, kind: str, namespace: str, *, start: bool = False) -> Store | None:
        scope = namespace if self.namespaces else None
        key = (kind, scope)
        if key not in self.stores and start and kind in CACHED_KINDS:
            store = Store(kind, scope, CACHE_SELECTOR)
            watcher = Watcher(self.live, store)
            self.stores[key], self.watchers[key] = store, watcher
            self._tasks.append(asyncio.create_task(watcher.run(), name=f"quantop watch {kind} {scope or '*'}"))
        return self.stores.get(key)

    def start(self, namespace: str) -> None:
        """Start the stores that serve ``namespace`` (each once), so they are warm by the first resync."""
        for kind in CACHED_KINDS:
            self.store(kind, namespace, start=True)

    def serving(self, kind: str, namespace: str, name: str | None = None) -> Store | None:
        """The store that may answer this read now, or None (read live)."""
        store = self.store(kind, namespace, start=True)
        if store is None:
            return None
        verdict = store.read(namespace, name, time.monotonic())
        if verdict is Read.RELIST:
            self.watchers[(kind, store.namespace)].relist()
        return store if verdict is Read.STORE else None

    def fresh_model(self, body: Mapping[str, Any]) -> bool:
        """Whether kopf's watch-fed body of a model holds quantop's last write to it (and its last live read)."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        record = self.models.get(key)
        if record is None:
            return True
        if time.monotonic() - record.at <= STALE_AFTER_SECONDS and satisfied(record, version_of(body)):
            del self.models[key]  # kopf's later bodies are newer still
            return True
        return False

    # --- kube.Journal ---------------------------------------------------------------------

    def wrote(self, kind: str, namespace: str, name: str, obj: Mapping[str, Any] | None) -> None:
        now = time.monotonic()
        if kind == "QuantizedModel":
            self.models[(namespace, name)] = Pending(version_of(obj), now, gone=obj is None)
            return
        store = self.store(kind, namespace)
        if store is not None:
            store.record(namespace, name, obj, now)

    def unsure(self, kind: str, namespace: str, name: str | None) -> None:
        if kind == "QuantizedModel" and name:
            self.models[(namespace, name)] = Pending(None, time.monotonic())
            return
        store = self.store(kind, namespace)
        if store is not None:
            self.watchers[(kind, store.namespace)].relist()

    def listed(self, kind: str, namespace: str, selector: Mapping[str, str], items: list[dict[str, Any]]) -> None:
        store = self.store(kind, namespace)
        if store is None:
            return
        now = time.monotonic()
        names = {str(o["metadata"]["name"]) for o in items}
        for (ns, name), obj in list(store.objects.items()):
            if ns == namespace and name not in names and matches(obj["metadata"].get("labels"), selector):
                store.record(namespace, name, None, now)
        for obj in items:
            store.record(namespace, str(obj["metadata"]["name"]), obj, now)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.live.journal is self:
            self.live.journal = None


async def model_for_resync(reads: CachedReads, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """kopf's watch-fed ``body`` of a model when it holds quantop's last write to it, else a GET."""
    if reads.cache.fresh_model(body):
        return copy.deepcopy(dict(body))
    meta = body.get("metadata") or {}
    return await reads.get("QuantizedModel", str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class CachedReads(KubeClient):
    """The live client's interface, reading from the cache's stores when that is safe.

    It shares the live client's connection and counters (``reads`` counts only what went to the
    API server) and does not own them: closing it closes nothing.
    """

    def __init__(self, cache: Cache) -> None:  # no super().__init__(): nothing of its own to open
        self.cache, self._live = cache, cache.live
        self.counters = cache.live.counters
        self.journal = None  # the live client's journal hears the writes

    async def aclose(self) -> None:
        return None

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        store = self.cache.serving(kind, namespace, name)
        found = store.get(namespace, name) if store is not None else None
        return found if found is not None else await self._live.get(kind, namespace, name)

    async def list(self, kind: str, namespace: str, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        store = self.cache.serving(kind, namespace)
        if store is not None and all(selector.get(k) == v for k, v in store.selector.items()):
            return store.list(namespace, selector)
        return await self._live.list(kind, namespace, selector)

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return await self._live.create(obj)

    async def patch(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any] | None:
        return await self._live.patch(kind, namespace, name, patch, subresource=subresource)

    async def delete(self, kind: str, namespace: str, name: str) -> bool:
        return await self._live.delete(kind, namespace, name)
