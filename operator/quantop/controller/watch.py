"""Keeps one :class:`Store` fed: LIST, then WATCH from the list's version; relist after anything unexpected.

Every end of a watch (an error, a cut stream, a 410 Gone, a line that is too long or not JSON, or
the server's own timeout) relists: the store is replaced wholesale, so a deletion missed while
the stream was down vanishes too. Errors back off with jitter; the store is unsynced (every read
goes live) until the relist completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import Any

import httpx

from .kube import KubeClient, KubeError
from .retry import backoff, describe
from .store import Store

log = logging.getLogger("quantop")

#: A watch event longer than this is refused (relist): an object is at most ~1.5 MB in etcd.
MAX_LINE_BYTES = 4 * 1024 * 1024
#: How long the server keeps one watch open (it then ends it and the store relists).
WATCH_SECONDS = 300
#: A watch that lasted at least this long ended normally: the next relist does not back off.
HEALTHY_SECONDS = 10.0
EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK"})


class Gone(Exception):
    """The server no longer has the version the watch started from (410): relist."""


def parse_line(line: bytes) -> tuple[str, dict[str, Any]]:
    """One watch event: its type and object. ValueError (or Gone) on anything else."""
    try:
        event = json.loads(line)
    except ValueError:
        raise ValueError(f"a watch line that is not JSON: {line[:80]!r}") from None
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        raise ValueError(f"a watch line that is not an event: {line[:80]!r}")
    kind, obj = event.get("type"), event["object"]
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise Gone(str(obj.get("message") or "resource version too old"))
        raise ValueError(f"watch error {obj.get('code')}: {str(obj.get('message'))[:200]}")
    if kind not in EVENT_TYPES:
        raise ValueError(f"a watch event of unknown type {str(kind)[:40]!r}")
    return str(kind), obj


class Watcher:
    """Runs LIST+WATCH passes for one store until cancelled; :meth:`relist` ends the current pass."""

    def __init__(self, kube: KubeClient, store: Store) -> None:
        self.kube, self.store = kube, store
        self._pass: asyncio.Task[None] | None = None
        #: Relists so far (tests and logs).
        self.relists = 0

    def relist(self) -> None:
        self.store.synced = False
        if self._pass is not None:
            self._pass.cancel()

    async def run(self) -> None:
        failures = 0
        while True:
            if failures:
                await asyncio.sleep(backoff(failures - 1, random.random()))
            started = time.monotonic()
            self._pass = asyncio.create_task(self._list_and_watch())
            try:
                await asyncio.wait({self._pass})
            finally:
                self.store.synced = False
                if not self._pass.done():  # the operator is stopping: end the stream with it
                    self._pass.cancel()
                    await asyncio.wait({self._pass})
            failures = self._next_failures(self._pass, failures, time.monotonic() - started)

    def _next_failures(self, done: asyncio.Task[None], failures: int, lasted: float) -> int:
        """Failures in a row, for the backoff: a pass that lasted counts as a fresh start."""
        if done.cancelled():
            return 0  # a relist was asked for
        if lasted >= HEALTHY_SECONDS:
            failures = 0
        error = done.exception()
        if error is None:
            return 0 if lasted >= HEALTHY_SECONDS else failures + 1
        if isinstance(error, KubeError) and error.status == 404:
            if not failures:  # the kind is not served (a CRD not installed): say so once, keep trying slowly
                log.info("watch of %s: the API server does not serve this kind; its reads stay live", self._what())
            return failures + 1
        if isinstance(error, KubeError | httpx.HTTPError | ValueError | Gone):
            log.info("watch of %s: %s; relisting", self._what(), describe(error))
            return failures + 1
        log.error("watch of %s failed", self._what(), exc_info=error)
        return failures + 1

    async def _list_and_watch(self) -> None:
        store = self.store
        started = time.monotonic()
        items, version = await self.kube.list_versioned(store.kind, store.namespace, store.selector)
        store.replace(items, version, started)
        self.relists += 1
        lines = self.kube.watch(
            store.kind, store.namespace, store.selector, version, seconds=WATCH_SECONDS, max_line=MAX_LINE_BYTES
        )
        async with contextlib.aclosing(lines):
            async for line in lines:
                store.apply(*parse_line(line))

    def _what(self) -> str:
        return f"{self.store.kind} in {self.store.namespace or 'all namespaces'}"
