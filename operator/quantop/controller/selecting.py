"""`method: auto` in the controller: the selection run through the revision machinery (docs/selection.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from quantop.api import Phase, QuantizedModelStatus
from quantop.planning.selection import progress_message
from quantop.resources.admission import Admission

from .kube import KubeClient
from .outcome import Event, Outcome

Persist = Callable[[QuantizedModelStatus, Sequence[Event]], Awaitable[None]]


async def reconcile_selection(
    body: Mapping[str, Any],
    client: KubeClient,
    admission: Admission,
    out: Outcome,
    *,
    now: dt.datetime | None = None,
    persist: Persist | None = None,
) -> Outcome:
    """Record the planned selection; nothing is deployed yet."""
    st = out.status
    selection = st.selection or admission.selection
    assert selection is not None
    st.selection = selection
    st.phase = Phase.QUEUED
    st.message = progress_message(selection)
    if persist is not None:
        await persist(st, out.events)
    return out
