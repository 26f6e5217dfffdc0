"""Tables as kubectl prints them: ages, which Accept asks for a Table, and Events in both API groups."""

from __future__ import annotations

import datetime as dt

import pytest

from quantop.sandbox.events import as_events_v1
from quantop.sandbox.tables import age, table, wants_table

NOW = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("timestamp", "shown"),
    [
        pytest.param("2026-12-01T11:59:18Z", "42s", id="seconds"),
        pytest.param("2026-12-01T11:55:00Z", "5m", id="minutes"),
        pytest.param("2026-12-01T09:00:00Z", "3h", id="hours"),
        pytest.param("2026-11-29T12:00:00Z", "2d", id="days"),
        pytest.param("2026-12-01T12:00:05Z", "0s", id="clock-skew-is-not-negative"),
        pytest.param(None, "<unknown>", id="absent"),
    ],
)
def test_age(timestamp: str | None, shown: str) -> None:
    assert age(timestamp, NOW) == shown


@pytest.mark.parametrize(
    ("accept", "table_wanted"),
    [
        pytest.param("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", True, id="kubectl-get"),
        pytest.param("application/json", False, id="kubectl-get-o-yaml"),
        pytest.param("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", False, id="table-second"),
        pytest.param("", False, id="no-accept"),
    ],
)
def test_a_table_only_when_it_is_the_first_choice(accept: str, table_wanted: bool) -> None:
    assert wants_table(accept) is table_wanted


CORE_EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "m7.1", "namespace": "llm", "creationTimestamp": "2026-12-01T11:59:00Z"},
    "involvedObject": {"kind": "QuantizedModel", "name": "m7"},
    "reason": "GateFailed",
    "message": "p95 9206 ms > SLO 6500 ms",
    "type": "Warning",
    "lastTimestamp": "2026-12-01T11:59:30Z",
    "count": 2,
    "source": {"component": "quantop", "host": "op-0"},
}


@pytest.mark.parametrize(
    "event",
    [pytest.param(CORE_EVENT, id="core-v1"), pytest.param(as_events_v1(CORE_EVENT), id="events-k8s-io-v1")],
)
def test_events_print_the_same_row_from_either_group(event: dict[str, object]) -> None:
    (row,) = table("events", [event])["rows"]
    assert row["cells"][1:5] == ["Warning", "GateFailed", "quantizedmodel/m7", "p95 9206 ms > SLO 6500 ms"]


def test_the_events_k8s_io_view_renames_fields_as_the_newer_api_does() -> None:
    new = as_events_v1(CORE_EVENT)
    assert new["regarding"] == CORE_EVENT["involvedObject"] and new["note"] == CORE_EVENT["message"]
    assert (new["deprecatedCount"], new["reportingController"], new["reportingInstance"]) == (2, "quantop", "op-0")
    assert "involvedObject" not in new and "message" not in new


def test_watch_events_after_the_first_carry_no_columns() -> None:
    item = {"metadata": {"name": "a"}, "spec": {"model": {"id": "m"}}}
    assert table("quantizedmodels", [item])["columnDefinitions"]
    assert table("quantizedmodels", [item], headers=False)["columnDefinitions"] == []
    assert [c["name"] for c in table("pods", [item])["columnDefinitions"]] == ["Name", "Age"]
