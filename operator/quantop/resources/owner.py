"""Owner references, so that deleting a QuantizedModel garbage-collects everything it made."""

from __future__ import annotations

from typing import Any

from quantop.api import API_VERSION, KIND


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    name: str, namespace: str, labels: dict[str, str], owner_name: str, owner_uid: str, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "ownerReferences": [owner_reference(owner_name, owner_uid)],
    }
    meta.update({k: v for k, v in extra.items() if v})
    return meta
