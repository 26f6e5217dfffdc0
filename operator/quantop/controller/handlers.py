"""kopf registrations. Thin on purpose: read, call :func:`reconcile`, write status and Events."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import httpx
import kopf

from quantop.api import KIND, PLURAL, VERSION, OperatorConfig, default_config
from quantop.api.resource import GROUP
from quantop.resources import LABEL_MANAGED_BY, MANAGED_BY

from .cache import Cache, CachedReads, model_for_resync
from .kube import Credentials, KubeClient, KubeError
from .outcome import Event
from .persist import StatusWriter, reconcile_and_report
from .probe import ProductionProbe
from .retry import backoff, describe, transient

log = logging.getLogger("quantop")

RESYNC_SECONDS = float(os.environ.get("QUANTOP_RESYNC_SECONDS", "30"))
#: How often the probe timer checks whether a model's accuracy probe is due (its own interval decides).
PROBE_TICK_SECONDS = float(os.environ.get("QUANTOP_PROBE_TICK_SECONDS", "30"))


def resync_cache_enabled() -> bool:
    """Whether the resync reads from watch-fed stores (QUANTOP_RESYNC_CACHE=0: every read live)."""
    return os.environ.get("QUANTOP_RESYNC_CACHE", "1") != "0"


def watched_namespaces() -> tuple[str, ...]:
    """The namespaces `quantop run -n` watches (none: cluster-wide), so the cache watches the same."""
    return tuple(n for n in os.environ.get("QUANTOP_WATCH_NAMESPACES", "").split(",") if n)


def api_timeout_seconds() -> float:
    """Total time one API request may take (quantop's and kopf's, watches aside); the fault suite shortens it.

    Read at startup, not import: tests start several operators in one process.
    """
    return float(os.environ.get("QUANTOP_API_TIMEOUT_SECONDS") or 30)


class _Runtime:
    """Process-wide handles (clients and config); no reconcile state lives here."""

    credentials: Credentials | None = None
    client: KubeClient | None = None
    config: OperatorConfig | None = None
    locks: ClassVar[dict[str, asyncio.Lock]] = {}

    client_credentials: Credentials | None = None
    cache: Cache | None = None
    metrics: Any = None
    probe: ProductionProbe | None = None
    stopping: bool = False

    @classmethod
    def kube(cls) -> KubeClient:
        if cls.stopping:
            # After cleanup closed the client, a handler still being cancelled must not open a new one.
            raise kopf.TemporaryError("the operator is stopping", delay=1)
        if cls.credentials is None:
            raise kopf.TemporaryError("not logged in to the API server yet", delay=1)
        if cls.client is None or cls.client_credentials != cls.credentials:
            # A re-login (expired token, new server) gets a fresh client.
            cls.client = KubeClient(cls.credentials, timeout=api_timeout_seconds())
            cls.client_credentials = cls.credentials
        return cls.client

    @classmethod
    async def cached(cls, namespace: str) -> CachedReads:
        """The resync's client: reads from the stores of the current client's cache (a new client, a new cache).

        Every reconcile asks for it, so the stores of a namespace start with its first model and
        are warm by the first resync; only the resync reads through it.
        """
        client = cls.kube()
        if cls.cache is not None and cls.cache.live is not client:
            await cls.cache.aclose()
            cls.cache = None
        if cls.cache is None:
            cls.cache = Cache(client, namespaces=watched_namespaces())
        cls.cache.start(namespace)
        return CachedReads(cls.cache)


RUNTIME = _Runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Progress and diff-base live in annotations so the structural status schema stays ours.
    # kopf leaves annotations under its own prefix out of change detection: with "quantop.dev"
    # it would ignore the user's quantop.dev/promote and quantop.dev/rollback until the next resync.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kopf.quantop.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kopf.quantop.dev", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.networking.request_timeout = api_timeout_seconds()
    RUNTIME.locks.clear()  # locks belong to the event loop of this operator run
    RUNTIME.stopping = False
    path = os.environ.get("QUANTOP_CONFIG")
    RUNTIME.config = OperatorConfig.load(path) if path else default_config()
    if os.environ.get("QUANTOP_HUB_URL"):
        RUNTIME.config = RUNTIME.config.model_copy(update={"hub_url": os.environ["QUANTOP_HUB_URL"]})
    port = int(os.environ.get("QUANTOP_METRICS_PORT") or 0)
    if port and RUNTIME.metrics is None:
        from quantop.monitoring.exporter import OperatorMetrics

        RUNTIME.metrics = OperatorMetrics()
        RUNTIME.metrics.serve(port)
    RUNTIME.probe = ProductionProbe(RUNTIME.metrics)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a cluster or with a kubeconfig: kopf's usual login. The sandbox and tests set QUANTOP_KUBE_API."""
    server = os.environ.get("QUANTOP_KUBE_API")
    info: kopf.ConnectionInfo | None
    if server:
        info = kopf.ConnectionInfo(server=server, insecure=True, default_namespace="default")
    else:
        info = kopf.login_via_client(**kwargs)
    if info is not None:
        RUNTIME.credentials = Credentials.from_kopf(info)
    return info


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    RUNTIME.stopping = True
    if RUNTIME.cache is not None:
        await RUNTIME.cache.aclose()
        RUNTIME.cache = None
    if RUNTIME.client is not None:
        await RUNTIME.client.aclose()
        RUNTIME.client = None


async def reconcile_named(
    namespace: str, name: str, *, coalesce: bool = False, retry: int = 0, body: Mapping[str, Any] | None = None
) -> None:
    """Reconcile one QuantizedModel from a fresh read (a timer's or a child's body may be stale).

    With ``coalesce`` (child events, resync timer) nothing queues behind a reconcile already running
    for the object: that one, or the next resync, reads the newer state anyway. Queues of waiting
    reconciles would only repeat the same reads and delay shutdown.

    With ``body`` (the resync timer's, fed by kopf's watch) the reconcile reads from the watch-fed
    cache (controller/cache.py): the body itself when it holds quantop's last write to the model,
    the children from their stores when those hold quantop's last writes and reads. Every other
    reconcile reads live, so no decision caused by an event waits for a watch.

    A write the API server refused still leaves a status (Synced=False names the error) and the
    retry comes in seconds (:func:`retry.backoff`), not kopf's default minute.
    """
    lock = RUNTIME.locks.setdefault(f"{namespace}/{name}", asyncio.Lock())
    if coalesce and lock.locked():
        return
    async with lock:
        reads = await RUNTIME.cached(namespace) if resync_cache_enabled() else None
        client: KubeClient = reads if reads is not None and body is not None else RUNTIME.kube()
        assert RUNTIME.config is not None
        raw = await _read_model(client, namespace, name, body, retry)
        if raw is None or (raw.get("metadata") or {}).get("deletionTimestamp"):
            return
        writer = StatusWriter(client, raw, post_event)
        failure = await reconcile_and_report(raw, client, RUNTIME.config, writer, RUNTIME.metrics)
        if failure is not None:
            # A refusal (422, 403) will not change by itself: retry at the cap, not every second.
            delay = backoff(retry if failure.transient else 64, random.random())
            raise kopf.TemporaryError(f"API error: {failure.message}", delay=delay)


async def _read_model(
    client: KubeClient, namespace: str, name: str, body: Mapping[str, Any] | None, retry: int
) -> Mapping[str, Any] | None:
    """The watch-fed ``body`` when the cache trusts it, else a GET."""
    try:
        if body is not None and isinstance(client, CachedReads):
            return await model_for_resync(client, body)
        return await client.get("QuantizedModel", namespace, name)
    except (KubeError, httpx.HTTPError) as exc:
        # Not kopf's default minute: a failed read is retried as soon as a failed write.
        delay = backoff(retry if transient(exc) else 64, random.random())
        raise kopf.TemporaryError(f"API error: {describe(exc)}", delay=delay) from exc


def post_event(raw: Mapping[str, Any], event: Event) -> None:
    kopf.event(kopf.Body(cast(kopf.RawBody, raw)), type=event.type, reason=event.reason, message=event.message)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def on_change(namespace: str | None, name: str, retry: int = 0, **_: Any) -> None:
    await reconcile_named(namespace or "", name, retry=retry)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def resync(body: kopf.Body, namespace: str | None, name: str, retry: int = 0, **_: Any) -> None:
    """Level-triggered resync: corrects drift in owned objects and follows their status, from watch-fed reads."""
    await reconcile_named(namespace or "", name, coalesce=True, retry=retry, body=body)


@kopf.on.event("apps", "v1", "deployments", labels={LABEL_MANAGED_BY: MANAGED_BY})
@kopf.on.event("batch", "v1", "jobs", labels={LABEL_MANAGED_BY: MANAGED_BY})
async def on_child(body: kopf.Body, **_: Any) -> None:
    """A child changed (became available, finished, was edited): reconcile its owner now, not at the next resync."""
    for ref in body.metadata.get("ownerReferences") or []:
        if ref.get("kind") == KIND and body.metadata.namespace:
            try:
                await reconcile_named(body.metadata.namespace, ref["name"], coalesce=True)
            except kopf.TemporaryError as exc:
                # Event handlers are not retried: the status says what failed, the resync timer retries.
                log.info("reconcile of %s/%s after a child event: %s", body.metadata.namespace, ref["name"], exc)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_qm_event(type: str | None, namespace: str | None, name: str, **_: Any) -> None:
    """A deleted QuantizedModel's metrics go with it (an event handler: no finalizer is added)."""
    if type == "DELETED" and RUNTIME.metrics is not None:
        RUNTIME.metrics.forget(namespace or "", name)


@kopf.timer(GROUP, VERSION, PLURAL, interval=PROBE_TICK_SECONDS, initial_delay=PROBE_TICK_SECONDS)
async def accuracy_probe(body: kopf.Body, **_: Any) -> None:
    """The production accuracy probe, when the spec enables it and its interval has passed."""
    raw = cast(dict[str, Any], dict(body))
    if RUNTIME.probe is not None and RUNTIME.probe.due(raw, time.time()):
        await RUNTIME.probe.run(raw)
