"""kopf registrations. Thin on purpose: read, call :func:`reconcile`, write status and Events."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, ClassVar

import kopf

from quantop.api import PLURAL, VERSION, OperatorConfig, default_config
from quantop.api.resource import GROUP

from .kube import Credentials, KubeClient
from .outcome import status_patch
from .reconcile import reconcile

log = logging.getLogger("quantop")

RESYNC_SECONDS = float(os.environ.get("QUANTOP_RESYNC_SECONDS", "30"))


class _Runtime:
    """Process-wide handles (clients and config); no reconcile state lives here."""

    credentials: Credentials | None = None
    client: KubeClient | None = None
    config: OperatorConfig | None = None
    locks: ClassVar[dict[str, asyncio.Lock]] = {}

    client_credentials: Credentials | None = None

    @classmethod
    def kube(cls) -> KubeClient:
        if cls.credentials is None:
            raise kopf.TemporaryError("not logged in to the API server yet", delay=1)
        if cls.client is None or cls.client_credentials != cls.credentials:
            # A re-login (expired token, new server) gets a fresh client.
            cls.client = KubeClient(cls.credentials)
            cls.client_credentials = cls.credentials
        return cls.client


RUNTIME = _Runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Progress and diff-base live in annotations so the structural status schema stays ours.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="quantop.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="quantop.dev", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    path = os.environ.get("QUANTOP_CONFIG")
    RUNTIME.config = OperatorConfig.load(path) if path else default_config()


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
    if RUNTIME.client is not None:
        await RUNTIME.client.aclose()
        RUNTIME.client = None


async def _reconcile(body: kopf.Body, uid: str | None) -> None:
    lock = RUNTIME.locks.setdefault(uid or f"{body.metadata.namespace}/{body.metadata.name}", asyncio.Lock())
    async with lock:
        client = RUNTIME.kube()
        assert RUNTIME.config is not None
        raw = dict(body)
        # A timer may fire with a body older than the last status write; re-read to stay level-triggered.
        fresh = await client.get("QuantizedModel", body.metadata.namespace or "", body.metadata.name or "")
        if fresh is None:
            return
        raw = fresh
        outcome = await reconcile(raw, client, RUNTIME.config)
        patch = status_patch(raw.get("status"), outcome.status)
        if patch is not None:
            await client.patch(
                "QuantizedModel",
                raw["metadata"]["namespace"],
                raw["metadata"]["name"],
                {"status": patch},
                subresource="status",
            )
        for event in outcome.events:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def on_change(body: kopf.Body, uid: str | None, **_: Any) -> None:
    await _reconcile(body, uid)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
async def resync(body: kopf.Body, uid: str | None, **_: Any) -> None:
    """Level-triggered resync: corrects drift in owned objects and follows their status."""
    await _reconcile(body, uid)
