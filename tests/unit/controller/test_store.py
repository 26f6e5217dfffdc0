"""The watch-fed store and its freshness rule: when may the resync trust it instead of the API server?"""

from __future__ import annotations

from typing import Any

import pytest

from quantop.controller.store import STALE_AFTER_SECONDS, Pending, Read, Store, freshness

SELECTOR = {"app.kubernetes.io/managed-by": "quantop"}
NOW = 1000.0


def obj(name: str, rv: int | str, ns: str = "llm", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "resourceVersion": str(rv),
            "labels": {**SELECTOR, **labels},
        }
    }


FRESHNESS = [
    pytest.param(True, 10, [], Read.STORE, id="synced-no-records"),
    pytest.param(False, 10, [], Read.LIVE, id="not-synced-yet-or-relisting"),
    pytest.param(True, 10, [Pending(10, NOW)], Read.STORE, id="write-delivered"),
    pytest.param(True, 12, [Pending(10, NOW)], Read.STORE, id="write-delivered-and-more"),
    pytest.param(True, 9, [Pending(10, NOW)], Read.LIVE, id="write-not-delivered-yet"),
    pytest.param(True, None, [Pending(10, NOW)], Read.LIVE, id="store-version-unknown"),
    pytest.param(True, 20, [Pending(None, NOW)], Read.LIVE, id="written-version-not-an-integer"),
    pytest.param(True, 20, [Pending(None, NOW, gone=True)], Read.LIVE, id="deleted-not-delivered-yet"),
    pytest.param(True, 20, [Pending(10, NOW), Pending(25, NOW)], Read.LIVE, id="one-of-two-not-delivered"),
    pytest.param(
        True, 20, [Pending(30, NOW - STALE_AFTER_SECONDS - 1)], Read.RELIST, id="record-too-old-is-not-trusted"
    ),
    pytest.param(True, 40, [Pending(30, NOW - STALE_AFTER_SECONDS - 1)], Read.STORE, id="old-record-already-met"),
    pytest.param(
        True, 40, [Pending(None, NOW - STALE_AFTER_SECONDS - 1, gone=True)], Read.RELIST, id="delete-never-delivered"
    ),
    pytest.param(True, 20, [Pending(10, NOW - STALE_AFTER_SECONDS + 1)], Read.STORE, id="record-just-in-time"),
]


@pytest.mark.parametrize(("synced", "watermark", "pending", "expected"), FRESHNESS)
def test_freshness(synced: bool, watermark: int | None, pending: list[Pending], expected: Read) -> None:
    assert freshness(synced=synced, watermark=watermark, pending=pending, now=NOW) == expected


def listed(*items: dict[str, Any], version: str = "5") -> Store:
    store = Store("Deployment", None, SELECTOR)
    store.replace(list(items), version, started=NOW)
    return store


def test_events_add_modify_delete() -> None:
    store = listed(obj("a", 3))
    store.apply("ADDED", obj("b", 6))
    store.apply("MODIFIED", obj("a", 7, replicas="2"))
    store.apply("DELETED", obj("b", 8))
    assert [o["metadata"]["resourceVersion"] for o in store.list("llm", SELECTOR)] == ["7"]
    assert store.get("llm", "b") is None and store.watermark == 8


def test_an_object_that_loses_the_label_leaves_the_store() -> None:
    store = listed(obj("a", 3))
    unlabelled = obj("a", 9)
    unlabelled["metadata"]["labels"] = {}
    store.apply("MODIFIED", unlabelled)
    assert store.get("llm", "a") is None


def test_a_relist_replaces_wholesale() -> None:
    """A deletion missed while the watch was down vanishes with the relist."""
    store = listed(obj("a", 3), obj("b", 4))
    store.replace([obj("b", 10)], "11", started=NOW + 1)
    assert [o["metadata"]["name"] for o in store.list("llm", SELECTOR)] == ["b"] and store.watermark == 11


def test_bookmark_moves_the_watermark_only() -> None:
    store = listed(obj("a", 3))
    store.apply("BOOKMARK", {"metadata": {"resourceVersion": "40"}})
    assert store.watermark == 40 and [o["metadata"]["name"] for o in store.list("llm", SELECTOR)] == ["a"]


def test_read_your_write() -> None:
    """A write answered with version 12 is served from the store only once its event arrived."""
    store = listed(obj("a", 3))
    store.record("llm", "a", obj("a", 12), NOW)
    assert (store.read("llm", "a", NOW), store.read("llm", None, NOW)) == (Read.LIVE, Read.LIVE)
    assert store.read("llm", "other", NOW) == Read.STORE  # a get of another object is not concerned
    assert store.read("team", None, NOW) == Read.STORE  # nor a list in another namespace
    store.apply("MODIFIED", obj("a", 12))
    assert store.read("llm", "a", NOW) == Read.STORE and not store.pending


def test_a_delete_waits_for_its_deleted_event() -> None:
    store = listed(obj("a", 3))
    store.record("llm", "a", None, NOW)
    store.apply("MODIFIED", obj("other", 50))  # a later version elsewhere does not say a is gone
    assert store.read("llm", None, NOW) == Read.LIVE
    store.apply("DELETED", obj("a", 51))
    assert store.read("llm", None, NOW) == Read.STORE


def test_create_then_delete_before_any_event() -> None:
    """The ADDED of an object already deleted must not be served in between."""
    store = listed()
    store.record("llm", "a", obj("a", 6), NOW)
    store.record("llm", "a", None, NOW)
    store.apply("ADDED", obj("a", 6))
    assert store.read("llm", "a", NOW) == Read.LIVE
    store.apply("DELETED", obj("a", 7))
    assert store.read("llm", "a", NOW) == Read.STORE and store.get("llm", "a") is None


def test_a_relist_clears_the_records_made_before_it() -> None:
    store = listed(obj("a", 3))
    store.record("llm", "a", obj("a", 12), NOW)
    store.record("llm", "b", obj("b", 13), NOW + 5)
    store.synced = False
    store.replace([obj("a", 12)], "12", started=NOW + 1)  # b's write came after the LIST was sent
    assert list(store.pending) == [("llm", "b")]


def test_absent_objects_need_no_record() -> None:
    """A live read that found nothing the store does not hold (e.g. a Job not created yet) waits for nothing."""
    store = listed(obj("a", 3))
    store.record("llm", "job", None, NOW)
    assert not store.pending


def test_an_object_without_the_label_is_not_one_to_wait_for() -> None:
    store = listed()
    unlabelled = obj("p", 30)
    unlabelled["metadata"]["labels"] = {"job-name": "x"}
    store.record("llm", "p", unlabelled, NOW)
    assert not store.pending


def test_answers_are_copies() -> None:
    store = listed(obj("a", 3))
    got = store.get("llm", "a")
    assert got is not None
    got["metadata"]["name"] = "changed"
    store.list("llm", SELECTOR)[0]["metadata"]["labels"].clear()
    assert store.get("llm", "a") == obj("a", 3)
