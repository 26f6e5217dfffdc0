"""A watch-fed copy of one kind's objects, and the rule that says when it may answer a read.

The store is fed by LIST, then WATCH from the list's resourceVersion (controller/watch.py). It
answers a read only when it provably holds everything quantop itself wrote or read live (read
your writes): each such answer leaves a :class:`Pending` record, and the store serves the object
(or a list of its kind) only once its watch has reached that version. resourceVersions are
compared as integers, as etcd revisions are (and the emulated API server's); a version that is
not an integer is never trusted, so that read goes live.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .kube import matches

#: A record older than this is not trusted: the watch never delivered it, so the store relists.
STALE_AFTER_SECONDS = 120.0


@dataclass(frozen=True)
class Pending:
    """A version quantop knows exists: the store may answer only once its watch got that far."""

    #: The resourceVersion written or read live; None when it is not an integer.
    version: int | None
    #: When it was recorded (time.monotonic()).
    at: float
    #: The object is gone (a delete, or a live read that found nothing): cleared by its DELETED event or a relist.
    gone: bool = False


class Read(enum.Enum):
    STORE = "store"
    LIVE = "live"
    #: Read live, and relist: a record was never delivered (or the outcome of a write is unknown).
    RELIST = "relist"


def version_of(obj: Mapping[str, Any] | None) -> int | None:
    raw = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    try:
        return int(str(raw))
    except ValueError:
        return None


def freshness(*, synced: bool, watermark: int | None, pending: Iterable[Pending], now: float) -> Read:
    """Whether a store that reached ``watermark`` may answer a read that ``pending`` records concern."""
    if not synced:
        return Read.LIVE
    verdict = Read.STORE
    for record in pending:
        if satisfied(record, watermark):
            continue  # delivered (the store prunes those after each event and relist; the rule does not rely on it)
        if now - record.at > STALE_AFTER_SECONDS:
            return Read.RELIST
        if record.gone or record.version is None or watermark is None or watermark < record.version:
            verdict = Read.LIVE
    return verdict


def satisfied(record: Pending, watermark: int | None) -> bool:
    return not record.gone and record.version is not None and watermark is not None and watermark >= record.version


Key = tuple[str, str]  # (namespace, name)


@dataclass
class Store:
    """One kind's objects that carry ``selector``, in one namespace (or all: namespace None)."""

    kind: str
    namespace: str | None
    selector: Mapping[str, str]
    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    pending: dict[Key, Pending] = field(default_factory=dict)
    #: The highest resourceVersion the list or the watch delivered.
    watermark: int | None = None
    #: Listed, and watching since; False while (re)listing and after a write of unknown outcome.
    synced: bool = False

    def replace(self, items: Iterable[dict[str, Any]], version: str, started: float) -> None:
        """A relist: the store becomes exactly the list (deletions missed meanwhile vanish)."""
        self.objects = {_key(o): o for o in items}
        self.watermark = _int(version)
        # A record made before the LIST was sent is in it; a later one still waits for its event.
        self.pending = {k: r for k, r in self.pending.items() if r.at >= started}
        self._prune()
        self.synced = True

    def apply(self, kind: str, obj: dict[str, Any]) -> None:
        """One watch event (ADDED, MODIFIED, DELETED, BOOKMARK)."""
        version = version_of(obj)
        if version is not None and (self.watermark is None or version > self.watermark):
            self.watermark = version
        if kind == "BOOKMARK":
            return
        key = _key(obj)
        if kind == "DELETED" or not matches((obj.get("metadata") or {}).get("labels"), self.selector):
            self.objects.pop(key, None)
            if kind == "DELETED" and key in self.pending and self.pending[key].gone:
                del self.pending[key]
        else:
            self.objects[key] = obj
        self._prune()

    def record(self, namespace: str, name: str, obj: Mapping[str, Any] | None, now: float) -> None:
        """quantop wrote or read this object live and got ``obj`` (None: it is gone)."""
        key = (namespace, name)
        if obj is not None and not matches((obj.get("metadata") or {}).get("labels"), self.selector):
            obj = None  # not (or no longer) one of this store's objects
        if obj is None:
            # Absent from the store with no write of ours on the way: nothing to wait for.
            if key in self.objects or key in self.pending:
                self.pending[key] = Pending(None, now, gone=True)
            return
        record = Pending(version_of(obj), now)
        if not satisfied(record, self.watermark):
            self.pending[key] = record

    def read(self, namespace: str, name: str | None, now: float) -> Read:
        """Whether this store may answer a get of ``name`` (or a list: name None) in ``namespace``."""
        records = [r for (ns, n), r in self.pending.items() if ns == namespace and name in (None, n)]
        return freshness(synced=self.synced, watermark=self.watermark, pending=records, now=now)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list(self, namespace: str, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(o)
            for (ns, _), o in sorted(self.objects.items())
            if ns == namespace and matches((o.get("metadata") or {}).get("labels"), selector)
        ]

    def _prune(self) -> None:
        for key in [k for k, r in self.pending.items() if satisfied(r, self.watermark)]:
            del self.pending[key]


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _int(version: str) -> int | None:
    try:
        return int(version)
    except ValueError:
        return None
