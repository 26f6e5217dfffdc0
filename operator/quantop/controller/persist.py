"""Persisting one reconcile: the status (only on a change), the Events once, and the API error if a write failed.

Kept apart from the kopf registrations so tests run exactly what the operator runs, with their
own client (one that fails chosen writes) and their own Event sink.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from quantop.api import OperatorConfig, QuantizedModelStatus

from .kube import KubeClient, KubeError
from .outcome import Event, status_dict, status_patch, unsynced_status
from .reconcile import reconcile
from .retry import describe, transient

log = logging.getLogger("quantop")


@dataclass(frozen=True)
class ApiFailure:
    """Why a reconcile did not complete: the failed writes in one line, and whether a quick retry may help."""

    message: str
    transient: bool


#: Posts one Event about the object (kopf.event in the operator).
Post = Callable[[Mapping[str, Any], Event], None]


class StatusWriter:
    """Persists a decision: the status when it changed since the last write (or the read), then its Events once."""

    def __init__(self, client: KubeClient, raw: Mapping[str, Any], post: Post) -> None:
        self.client, self.raw, self.post = client, raw, post
        self.current = raw.get("status")
        self.posted = False

    async def __call__(self, status: QuantizedModelStatus, events: Sequence[Event] = ()) -> None:
        patch = status_patch(self.current, status)
        if patch is not None:
            ns, name = _ns_name(self.raw)
            await self.client.patch("QuantizedModel", ns, name, {"status": patch}, subresource="status")
            self.current = status_dict(status)
        if not self.posted:
            # Right after the status: an operator stopped while acting still leaves the decision's Events.
            self.posted = True
            for event in events:
                self.post(self.raw, event)


async def reconcile_and_report(
    raw: Mapping[str, Any], client: KubeClient, config: OperatorConfig, writer: StatusWriter, metrics: Any = None
) -> ApiFailure | None:
    """Reconcile, write status, post Events; the API error that interrupted it, if one did."""
    namespace, name = _ns_name(raw)
    started = time.perf_counter()
    try:
        outcome = await reconcile(raw, client, config, persist=writer)
        await writer(outcome.status, outcome.events)  # a refusal is not persisted by reconcile
    except (KubeError, httpx.HTTPError) as exc:
        _count_error(metrics, namespace, name)
        await _write_unsynced(writer, raw, describe(exc))
        return ApiFailure(describe(exc), transient(exc))
    except Exception:
        _count_error(metrics, namespace, name)
        raise
    finally:
        if metrics is not None:
            metrics.reconcile_seconds.observe(time.perf_counter() - started)
    if metrics is not None:
        metrics.record(namespace, name, raw, outcome)
    if not outcome.failures:
        return None
    _count_error(metrics, namespace, name)
    message = "; ".join(f.describe() for f in outcome.failures)
    await _write_unsynced(writer, raw, message, outcome.status)
    return ApiFailure(message, all(transient(f.error) for f in outcome.failures))


def _count_error(metrics: Any, namespace: str, name: str) -> None:
    if metrics is not None:
        metrics.reconcile_errors.labels(namespace, name).inc()


async def _write_unsynced(
    writer: StatusWriter, raw: Mapping[str, Any], message: str, status: QuantizedModelStatus | None = None
) -> None:
    """Best effort: the status says which write failed; if even that write fails, the log does.

    Without the decided status at hand, the failed write may have been the status write itself, and
    a 5xx or a timeout does not say whether it was applied: Synced=False is then written on the status
    read back from the API server, never on the one read before the reconcile, which would undo an
    applied decision (its history, its stable revision).
    """
    try:
        if status is None:
            status = await _stored_status(writer)
            if status is None:
                return  # the object is gone
        generation = (raw.get("metadata") or {}).get("generation")
        await writer(unsynced_status(status, message, generation))
    except (KubeError, httpx.HTTPError) as exc:
        log.warning("status of %s/%s not written (%s) after: %s", *_ns_name(raw), describe(exc), message)


async def _stored_status(writer: StatusWriter) -> QuantizedModelStatus | None:
    obj = await writer.client.get("QuantizedModel", *_ns_name(writer.raw))
    if obj is None:
        return None
    writer.current = obj.get("status")
    return QuantizedModelStatus.model_validate(writer.current or {})


def _ns_name(raw: Mapping[str, Any]) -> tuple[str, str]:
    return raw["metadata"]["namespace"], raw["metadata"]["name"]
