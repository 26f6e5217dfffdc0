"""RFC 3339 timestamps as Kubernetes writes them: UTC, whole seconds, `Z`."""

from __future__ import annotations

import datetime as dt


def rfc3339(moment: dt.datetime) -> str:
    """`moment` (a UTC datetime) as Kubernetes writes it."""
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def now_rfc3339() -> str:
    return rfc3339(dt.datetime.now(dt.UTC))


def parse_rfc3339(text: str | None) -> dt.datetime | None:
    """The moment `text` names, or None when empty; raises ValueError when it is not a timestamp."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
