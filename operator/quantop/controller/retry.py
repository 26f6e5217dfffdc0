"""When to try again after the API server refused a write: seconds, jittered, not kopf's default minute."""

from __future__ import annotations

import httpx

from .kube import KubeError

#: First retry after about a second, doubling to this cap.
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0
#: Answers worth retrying soon: conflicts, throttling, and the server's own failures.
TRANSIENT_STATUSES = frozenset({409, 429, 500, 502, 503, 504})


def backoff(retry: int, jitter: float) -> float:
    """Seconds before retry number ``retry`` (0 for the first), given ``jitter`` drawn from [0, 1).

    Exponential from one second to a 30 s cap; the delay is spread over [0.5, 1.5) of that so
    models that failed together (an API server restart) do not retry together.
    """
    base = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2.0 ** min(max(retry, 0), 16))
    spread: float = 0.5 + min(max(jitter, 0.0), 1.0)
    return round(base * spread, 3)


def transient(error: BaseException) -> bool:
    """Whether the same request may well succeed if simply sent again."""
    if isinstance(error, KubeError):
        return error.status in TRANSIENT_STATUSES
    return isinstance(error, httpx.TransportError)


def describe(error: BaseException) -> str:
    """One line naming the API error, for the Synced condition."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]
