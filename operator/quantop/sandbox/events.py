"""events.k8s.io/v1 Events as a view of the core/v1 Events, as on a real API server.

Both groups are one storage there: kubectl (1.33) lists `events` from events.k8s.io while
kopf and the operator write core/v1 Events. The view renames the fields the newer API renamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUP = "events.k8s.io"

_RENAMED = {
    "involvedObject": "regarding",
    "message": "note",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "source": "deprecatedSource",
}
_KEPT = ("metadata", "reason", "type", "eventTime", "related", "series", "action")


def as_events_v1(core: Mapping[str, Any]) -> dict[str, Any]:
    """One core/v1 Event in events.k8s.io/v1's shape."""
    out: dict[str, Any] = {"apiVersion": f"{GROUP}/v1", "kind": "Event"}
    out.update({key: core[key] for key in _KEPT if key in core})
    out.update({new: core[old] for old, new in _RENAMED.items() if old in core})
    source = core.get("source") or {}
    out.setdefault("reportingController", core.get("reportingComponent") or source.get("component", ""))
    out.setdefault("reportingInstance", core.get("reportingInstance") or source.get("host", ""))
    return out


def is_events_v1(group: str | None, plural: str | None) -> bool:
    return group == GROUP and plural == "events"
