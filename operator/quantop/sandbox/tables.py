"""meta.k8s.io/v1 Tables, as the API server renders them for `kubectl get`.

kubectl asks for a Table (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`) for lists,
single objects and every watch event; without one it falls back to NAME and AGE. QuantizedModels
get the CRD's additionalPrinterColumns, Events the columns a real API server gives them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from quantop.api.crd import PRINTER_COLUMNS
from quantop.api.timestamps import parse_rfc3339

TABLE_ACCEPT = "as=Table"

Column = dict[str, Any]
Cells = Callable[[Mapping[str, Any]], list[Any]]


def wants_table(accept: str) -> bool:
    """kubectl lists Table first and plain JSON as the fallback; a Table is what it prefers."""
    return TABLE_ACCEPT in accept.split(",")[0] if accept else False


def age(timestamp: str | None, now: dt.datetime | None = None) -> str:
    """kubectl's short duration: 42s, 5m, 3h, 2d."""
    created = parse_rfc3339(timestamp) if timestamp else None
    if created is None:
        return "<unknown>"
    seconds = int(((now or dt.datetime.now(dt.UTC)) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def jsonpath(obj: Any, path: str) -> Any:
    for part in path.strip(".").split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _column(name: str, kind: str = "string", *, fmt: str = "", priority: int = 0, description: str = "") -> Column:
    return {"name": name, "type": kind, "format": fmt, "priority": priority, "description": description or name}


def _printer_columns() -> list[Column]:
    columns = [_column("Name", fmt="name", description="Name must be unique within a namespace.")]
    columns += [
        _column(c["name"], c["type"], priority=c.get("priority", 0), description=c.get("description", ""))
        for c in PRINTER_COLUMNS
    ]
    return columns


def _printer_cells(item: Mapping[str, Any]) -> list[Any]:
    cells: list[Any] = [item["metadata"]["name"]]
    for c in PRINTER_COLUMNS:
        value = jsonpath(item, c["jsonPath"])
        if c["type"] == "date":
            value = age(value)
        elif c["type"] == "number" and isinstance(value, float):
            value = round(value, 4)
        cells.append(value)
    return cells


def _event_columns() -> list[Column]:
    return [
        _column("Last Seen", description="Time since the event was last seen"),
        _column("Type"),
        _column("Reason"),
        _column("Object", description="The object this event is about"),
        _column("Message"),
        _column("Name", fmt="name", priority=1),
    ]


def _event_cells(item: Mapping[str, Any]) -> list[Any]:
    # core/v1 and events.k8s.io/v1 name the same facts differently.
    regarding = item.get("involvedObject") or item.get("regarding") or {}
    last = (
        item.get("lastTimestamp")
        or item.get("deprecatedLastTimestamp")
        or item.get("eventTime")
        or (item.get("metadata") or {}).get("creationTimestamp")
    )
    obj = f"{str(regarding.get('kind', '')).lower()}/{regarding.get('name', '')}"
    message = item.get("message", item.get("note", ""))
    return [age(last), item.get("type", ""), item.get("reason", ""), obj, message, item["metadata"]["name"]]


def _default_columns() -> list[Column]:
    return [_column("Name", fmt="name"), _column("Age", "date")]


def _default_cells(item: Mapping[str, Any]) -> list[Any]:
    meta = item.get("metadata") or {}
    return [meta.get("name", ""), age(meta.get("creationTimestamp"))]


def renderer(plural: str) -> tuple[Callable[[], list[Column]], Cells]:
    """The columns and the cell function for one resource's rows."""
    from quantop.api import PLURAL

    if plural == PLURAL:
        return _printer_columns, _printer_cells
    if plural == "events":
        return _event_columns, _event_cells
    return _default_columns, _default_cells


def table(
    plural: str, items: Sequence[Mapping[str, Any]], *, resource_version: str = "", headers: bool = True
) -> dict[str, Any]:
    """A Table of `items`; watch events after the first carry no column definitions, as on a real server."""
    columns, cells = renderer(plural)
    rows = [
        {
            "cells": cells(item),
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item.get("metadata", {}),
            },
        }
        for item in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns() if headers else [],
        "rows": rows,
    }
