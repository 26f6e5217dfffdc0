"""Create-or-patch with no write when nothing changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .kube import KubeClient


def is_subset(desired: Any, live: Any) -> bool:
    """Whether ``live`` already holds everything ``desired`` says.

    The API server adds defaults (clusterIP, imagePullPolicy, ...), so live objects may hold
    more; lists must match item by item in length and order.
    """
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(k in live and is_subset(v, live[k]) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
        )
    return bool(desired == live)


def owned_fields(desired: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an object quantop owns: labels, annotations, owner references and spec."""
    meta = desired["metadata"]
    owned: dict[str, Any] = {
        "metadata": {k: meta[k] for k in ("labels", "annotations", "ownerReferences") if k in meta},
    }
    if "spec" in desired:
        owned["spec"] = desired["spec"]
    return owned


def drift_patch(desired: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any] | None:
    """A merge patch that restores the owned fields, or None when live already matches."""
    owned = owned_fields(desired)
    if is_subset(owned, live):
        return None
    return owned


async def apply(client: KubeClient, desired: Mapping[str, Any]) -> str:
    """Make the object match ``desired``; returns 'created', 'patched' or 'unchanged'."""
    meta = desired["metadata"]
    live = await client.get(desired["kind"], meta["namespace"], meta["name"])
    if live is None:
        await client.create(desired)
        return "created"
    patch = drift_patch(desired, live)
    if patch is None:
        return "unchanged"
    await client.patch(desired["kind"], meta["namespace"], meta["name"], patch)
    return "patched"
