"""Fetching a user's URL: every hostile answer ends as a one-line FetchError, bounded in time and bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.hostile import ROW, hostile_server

from quantop.validation.fetch import MIB, FetchError, FetchLimits, fetch, fetch_sync

# Long enough that a busy machine reaches every cap first; the deadline cases use SHORT.
LIMITS = FetchLimits(deadline_s=60.0, max_bytes=1 * MIB, redirect_hosts=frozenset({"localhost"}))
SHORT = FetchLimits(deadline_s=1.0, max_bytes=1 * MIB, redirect_hosts=frozenset({"localhost"}))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with hostile_server() as url:
        yield url


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("/slowloris.jsonl", "no complete answer within 1 s", id="slowloris-byte-drip"),
        pytest.param("/hang.jsonl", "no complete answer within 1 s", id="answers-nothing"),
        pytest.param("/endless.jsonl", "larger than the 1 MiB limit", id="endless-chunked-body"),
        pytest.param("/declared-huge.jsonl", "10240 MiB is more than the 1 MiB limit", id="declared-10GiB"),
        pytest.param("/gzip-bomb.jsonl", "larger than the 1 MiB limit", id="gzip-bomb"),
        pytest.param(
            "/redirect-metadata.jsonl",
            "redirects (302) to http://169.254.169.254/latest/meta-data; quantop follows redirects only to "
            "allow-listed hosts (localhost",
            id="redirect-to-cloud-metadata",
        ),
        pytest.param("/redirect-loop.jsonl", "more than 3 redirects", id="redirect-loop"),
    ],
)
def test_hostile_answers_end_in_one_line_errors(server: str, path: str, message: str) -> None:
    with pytest.raises(FetchError) as error:
        fetch_sync(server + path, SHORT if "within" in message else LIMITS)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("file:///etc/passwd", "only http:// and https:// URLs", id="file-scheme"),
        pytest.param("gopher://127.0.0.1:1/", "only http:// and https:// URLs", id="gopher"),
        pytest.param("http://", "only http:// and https:// URLs with a host", id="no-host"),
        pytest.param("http://127.0.0.1:1/x.jsonl", "cannot fetch", id="connection-refused"),
        pytest.param("http://169.254.169.254/latest/meta-data/", "metadata addresses are never", id="aws-metadata"),
        pytest.param("http://[fe80::1]/x.jsonl", "metadata addresses are never", id="ipv6-link-local"),
        pytest.param("http://metadata.google.internal/x", "metadata addresses are never", id="gcp-metadata"),
        pytest.param("http://METADATA.google.internal./x", "metadata addresses are never", id="metadata-fqdn"),
        pytest.param("http://[fd00:ec2::254]/x", "metadata addresses are never", id="aws-ipv6-metadata"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        fetch_sync(url, LIMITS)


def test_an_allow_listed_redirect_is_followed(server: str) -> None:
    fetched = fetch_sync(server + "/redirect-allowed.jsonl", LIMITS)
    assert fetched.status == 200 and fetched.body == ROW
    assert fetched.url.startswith("http://localhost:")


def test_no_redirect_is_followed_without_an_allow_list(server: str) -> None:
    with pytest.raises(FetchError, match=r"allow-listed hosts \(none, set by QUANTOP_FETCH_REDIRECT_HOSTS\)"):
        fetch_sync(server + "/redirect-allowed.jsonl", FetchLimits(deadline_s=5, redirect_hosts=frozenset()))


def test_redirect_hosts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTOP_FETCH_REDIRECT_HOSTS", " cdn.example.org, LocalHost ,")
    assert FetchLimits().redirect_hosts == {"cdn.example.org", "localhost"}


async def test_a_hanging_fetch_does_not_hold_the_event_loop(server: str) -> None:
    """The operator's loop keeps serving while a fetch waits on a server that never finishes."""
    running = asyncio.create_task(fetch(server + "/slowloris.jsonl", FetchLimits(deadline_s=120.0)))
    for _ in range(20):  # other coroutines get their turns while the fetch is in flight
        await asyncio.sleep(0.01)
    assert not running.done()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


def test_fetch_sync_works_inside_a_running_loop(server: str) -> None:
    async def inside() -> bytes:
        return fetch_sync(server + "/ok.jsonl", LIMITS).body

    assert asyncio.run(inside()) == ROW
