"""Fetching a user's URL: every hostile answer ends as a one-line FetchError, bounded in time and bytes."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml
from tests.hostile import ROW, hostile_server

from quantop.validation import fetch as fetch_module
from quantop.validation.fetch import MIB, FetchError, FetchLimits, Resolver, fetch, fetch_sync

# Long enough that a busy machine reaches every cap first; the deadline cases use SHORT.
LIMITS = FetchLimits(deadline_s=60.0, max_bytes=1 * MIB, redirect_hosts=frozenset({"localhost"}))
SHORT = FetchLimits(deadline_s=1.0, max_bytes=1 * MIB, redirect_hosts=frozenset({"localhost"}))


@pytest.fixture(autouse=True)
def no_operator_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are a Job or a CLI (policy from the environment) unless one names a config file."""
    monkeypatch.delenv("QUANTOP_CONFIG", raising=False)
    fetch_module._config_policy.cache_clear()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    extra = {
        "/echo-host": lambda h: h.reply(200, (h.headers.get("host") or "").encode(), "text/plain"),
        "/redirect-same-name": lambda h: h.reply(302, b"", Location="/echo-host"),
        "/redirect-cdn": lambda h: h.reply(302, b"", Location="http://cdn.test/x.jsonl"),
    }
    with hostile_server(extra) as url:
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
        pytest.param("http://[fe80::1%25eth0]/x", "metadata addresses are never", id="ipv6-zone-id"),
        pytest.param("http://169.254.169.254./x", "metadata addresses are never", id="ipv4-trailing-dot"),
        pytest.param("http://[::ffff:169.254.169.254]/x", "metadata addresses are never", id="v4-mapped-literal"),
        pytest.param("http://[::ffff:a9fe:a9fe]/x", "metadata addresses are never", id="v4-mapped-hex-literal"),
        pytest.param("http://[64:ff9b::a9fe:a9fe]/x", "metadata addresses are never", id="nat64-literal"),
        pytest.param("http://0.0.0.0:1/x", "metadata addresses are never", id="unspecified-v4"),
        pytest.param("http://[::]:1/x", "metadata addresses are never", id="unspecified-v6"),
        pytest.param("http://255.255.255.255/x", "metadata addresses are never", id="broadcast"),
        pytest.param("http://224.0.0.1/x", "metadata addresses are never", id="multicast"),
        pytest.param("http://100.100.100.200/x", "metadata addresses are never", id="alibaba-metadata"),
        # The system resolver reads these inet_aton spellings as 169.254.169.254; httpx passes them on as names.
        pytest.param("http://2852039166/x", "2852039166 resolves to 169.254.169.254", id="decimal-ipv4"),
        pytest.param("http://0xA9FEA9FE/x", "0xa9fea9fe resolves to 169.254.169.254", id="hex-ipv4"),
        pytest.param("http://0xa9.0xfe.0xa9.0xfe/x", "resolves to 169.254.169.254", id="dotted-hex-ipv4"),
        pytest.param("http://169.254.43518/x", "resolves to 169.254.169.254", id="two-part-ipv4"),
        pytest.param("http://0251.0376.0251.0376/x", "not a valid URL", id="octal-ipv4-httpx-refuses"),
        pytest.param("http://0/x", "0 resolves to 0.0.0.0", id="zero-as-a-name"),
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
    with pytest.raises(
        FetchError,
        match=r"allow-listed hosts \(none: the operator's fetch\.redirectHosts, QUANTOP_FETCH_REDIRECT_HOSTS in a Job\)",
    ):
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


def resolving(table: dict[str, Sequence[str]], calls: list[str] | None = None) -> Resolver:
    """A resolver that answers from `table` (no DNS), recording each lookup in `calls`."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        pytest.param(
            ["169.254.169.254"], "evil.test resolves to 169.254.169.254, in 169.254.0.0/16", id="aws-metadata"
        ),
        pytest.param(["fe80::1"], "evil.test resolves to fe80::1, in fe80::/10", id="ipv6-link-local"),
        pytest.param(["fe80::1%eth0"], "in fe80::/10", id="ipv6-link-local-with-zone"),
        pytest.param(["::ffff:169.254.169.254"], "in 169.254.0.0/16", id="v4-mapped-v6"),
        pytest.param(["2002:a9fe:a9fe::1"], "in 169.254.0.0/16", id="6to4-embedding-metadata"),
        pytest.param(["::a9fe:a9fe"], "in 169.254.0.0/16", id="ipv4-compatible-v6"),
        pytest.param(["::ffff:0:a9fe:a9fe"], "in 169.254.0.0/16", id="siit-v6"),
        pytest.param(["64:ff9b::169.254.169.254"], "in 169.254.0.0/16", id="nat64-v6"),
        pytest.param(["2001:0:4136:e378:8000:63bf:5601:5601"], "in 169.254.0.0/16", id="teredo-v6"),
        pytest.param(["fd00:ec2::254"], "in fd00:ec2::254/128", id="aws-metadata-v6"),
        pytest.param(["0.0.0.0"], "in 0.0.0.0/8", id="unspecified"),
        pytest.param(["::"], "in ::/128", id="unspecified-v6"),
        pytest.param(["255.255.255.255"], "in 240.0.0.0/4", id="broadcast"),
        pytest.param(["ff02::1"], "in ff00::/8", id="multicast-v6"),
        pytest.param(["93.184.215.14", "169.254.169.254"], "resolves to 169.254.169.254", id="public-then-metadata"),
        pytest.param(["169.254.169.254", "93.184.215.14"], "resolves to 169.254.169.254", id="metadata-then-public"),
        pytest.param(["not-an-address"], "which is not an IP address", id="resolver-garbage"),
        pytest.param([], "resolves to no address", id="no-address"),
    ],
)
def test_names_resolving_to_denied_addresses_are_refused(addresses: list[str], message: str) -> None:
    with pytest.raises(FetchError) as error:
        fetch_sync("http://evil.test/x.jsonl", LIMITS, resolver=resolving({"evil.test": addresses}))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert error.value.kind == ("connect" if not addresses else "url")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        pytest.param("http://EVIL.test/x", "evil.test", id="uppercase"),
        pytest.param("http://evil.test./x", "evil.test.", id="trailing-dot"),
        pytest.param("http://évil.test/x", "xn--vil-9la.test", id="idna"),
    ],
)
def test_the_name_checked_is_the_name_connected_to(url: str, host: str) -> None:
    calls: list[str] = []
    resolver = resolving({host: ["169.254.169.254"]}, calls)
    with pytest.raises(FetchError, match=r"resolves to 169\.254\.169\.254"):
        fetch_sync(url, LIMITS, resolver=resolver)
    assert calls == [host]


def private(*cidrs: str) -> FetchLimits:
    networks = tuple(ipaddress.ip_network(c) for c in cidrs)
    return FetchLimits(deadline_s=60.0, max_bytes=MIB, redirect_hosts=frozenset(), denied_networks=networks)


@pytest.mark.parametrize(
    ("address", "limits", "message"),
    [
        pytest.param(
            "10.1.2.3", private("10.0.0.0/8"), "in 10.0.0.0/8, which the operator's fetch.deniedNetworks", id="rfc1918"
        ),
        pytest.param("::ffff:10.1.2.3", private("10.0.0.0/8"), "in 10.0.0.0/8", id="rfc1918-v4-mapped"),
        pytest.param("127.0.0.1", private("127.0.0.0/8", "::1/128"), "in 127.0.0.0/8", id="loopback"),
        pytest.param("::1", private("127.0.0.0/8", "::1/128"), "in ::1/128", id="loopback-v6"),
    ],
)
def test_configured_networks_are_refused(address: str, limits: FetchLimits, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        fetch_sync("http://inside.test/x", limits, resolver=resolving({"inside.test": [address]}))


def test_a_denied_literal_address_names_the_config_knob() -> None:
    with pytest.raises(
        FetchError,
        match=r"http://10.0.0.1/x: 10.0.0.1, in 10.0.0.0/8, which the operator's fetch.deniedNetworks \(QUANTOP_FETCH_DENIED_NETWORKS\)",
    ):
        fetch_sync("http://10.0.0.1/x", private("10.0.0.0/8"))


def test_loopback_and_private_addresses_are_allowed_by_default(server: str) -> None:
    assert FetchLimits(redirect_hosts=frozenset()).denied_networks == ()
    fetched = fetch_sync(server + "/ok.jsonl", FetchLimits(deadline_s=60, redirect_hosts=frozenset()))
    assert fetched.body == ROW


def test_an_allow_listed_redirect_target_is_checked_too(server: str) -> None:
    limits = FetchLimits(deadline_s=60.0, redirect_hosts=frozenset({"cdn.test"}))
    resolver = resolving({"cdn.test": ["169.254.169.254"]})
    with pytest.raises(FetchError, match=r"http://cdn.test/x.jsonl: cdn.test resolves to 169.254.169.254"):
        fetch_sync(server + "/redirect-cdn", limits, resolver=resolver)


def test_the_connection_goes_to_the_checked_address(server: str) -> None:
    """A name is resolved once: a second, different answer (DNS rebinding) never decides where to connect.

    dataset.test does not exist in DNS, so a connection that looked it up again would fail; one that
    used the second answer would be refused at 169.254.169.254. The Host header keeps the name."""
    port = server.rsplit(":", 1)[1]
    calls: list[str] = []
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["169.254.169.254"]])

    async def rebinding(host: str, _port: int) -> Sequence[str]:
        calls.append(host)
        return next(answers)

    limits = FetchLimits(deadline_s=60.0, redirect_hosts=frozenset({"dataset.test"}))
    fetched = fetch_sync(f"http://dataset.test:{port}/redirect-same-name", limits, resolver=rebinding)
    assert (fetched.status, fetched.body) == (200, f"dataset.test:{port}".encode())
    assert fetched.url == f"http://dataset.test:{port}/echo-host"
    assert calls == ["dataset.test"]


def test_every_checked_address_is_tried_in_order(server: str) -> None:
    """A name with two allowed addresses, the first refusing connections, still reaches the second."""
    port = server.rsplit(":", 1)[1]
    resolver = resolving({"two.test": ["127.0.0.2", "127.0.0.1"]})
    # 127.0.0.2 is loopback too but nothing listens there on the server's port (it is bound to 127.0.0.1).
    fetched = fetch_sync(f"http://two.test:{port}/ok.jsonl", FetchLimits(deadline_s=60.0), resolver=resolver)
    assert fetched.body == ROW


def test_an_unresolvable_name_is_a_connect_error() -> None:
    with pytest.raises(FetchError, match=r"http://nowhere\.test/x: cannot resolve nowhere\.test") as error:
        fetch_sync("http://nowhere.test/x", LIMITS, resolver=resolving({}))
    assert error.value.kind == "connect"


async def test_a_resolver_that_hangs_is_bounded_by_the_deadline() -> None:
    async def hanging(host: str, port: int) -> Sequence[str]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with pytest.raises(FetchError, match="no complete answer within 1 s"):
        await fetch("http://slow-dns.test/x", SHORT, resolver=hanging)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"QUANTOP_FETCH_DENIED_NETWORKS": "10.0.0.0/33"}, "neither a CIDR", id="bad-prefix"),
        pytest.param({"QUANTOP_FETCH_DENIED_NETWORKS": "intranet"}, "nor one of loopback, private", id="unknown-alias"),
        pytest.param({"QUANTOP_FETCH_REDIRECT_HOSTS": "https://cdn.example.org/"}, "bare host names", id="url-as-host"),
    ],
)
def test_a_malformed_policy_in_the_environment_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(FetchError, match=message) as error:
        FetchLimits()
    assert error.value.kind == "config" and "\n" not in str(error.value)


def test_denied_networks_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTOP_FETCH_DENIED_NETWORKS", "loopback, 192.0.2.0/24")
    denied = {str(n) for n in FetchLimits().denied_networks}
    assert denied == {"127.0.0.0/8", "::1/128", "192.0.2.0/24"}


def test_the_operator_takes_its_policy_from_its_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In the operator (QUANTOP_CONFIG set by `quantop run --config`) the config file decides, not stray env."""
    config = tmp_path / "config.yaml"
    policy = {"redirectHosts": ["CDN.example.org"], "deniedNetworks": ["private"]}
    config.write_text(yaml.safe_dump({"gpuProfiles": {}, "fetch": policy}))
    monkeypatch.setenv("QUANTOP_CONFIG", str(config))
    monkeypatch.setenv("QUANTOP_FETCH_REDIRECT_HOSTS", "elsewhere.example.org")
    limits = FetchLimits()
    assert limits.redirect_hosts == {"cdn.example.org"}
    assert ipaddress.ip_network("10.0.0.0/8") in limits.denied_networks
    with pytest.raises(FetchError, match=r"in 10\.0\.0\.0/8, which the operator's fetch\.deniedNetworks"):
        fetch_sync("http://inside.test/x", resolver=resolving({"inside.test": ["10.1.2.3"]}))


def test_a_bad_policy_in_the_config_file_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"gpuProfiles": {}, "fetch": {"deniedNetworks": ["10.0.0.0/40"]}}))
    monkeypatch.setenv("QUANTOP_CONFIG", str(config))
    with pytest.raises(FetchError, match=r"fetch policy in .*config.yaml: fetch.deniedNetworks: .*neither a CIDR"):
        FetchLimits()


def test_a_stuck_system_lookup_does_not_hold_fetch_sync_past_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup blocks until released (or gives up after a minute); fetch_sync must return before either."""
    release, returned = threading.Event(), threading.Event()

    def stuck(*args: object, **kwargs: object) -> list[tuple[object, ...]]:
        release.wait(60)
        returned.set()
        raise OSError("gave up")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        with pytest.raises(FetchError, match="no complete answer within 1 s"):
            fetch_sync("http://stuck-dns.test/x", SHORT)
        assert not returned.is_set()  # fetch_sync came back while the lookup was still stuck
    finally:
        release.set()


TLS = Path(__file__).resolve().parents[2] / "data" / "tls"


class _RowHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(ROW)))
        self.end_headers()
        self.wfile.write(ROW)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls_server() -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 whose certificate names only dataset.test (tests/data/tls)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "dataset.test.pem", TLS / "dataset.test.key")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RowHandler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        pytest.param("dataset.test", ROW, id="certificate-names-the-url-host"),
        pytest.param("other.test", "certificate verify failed", id="certificate-for-another-name"),
    ],
)
def test_tls_checks_the_urls_name_not_the_pinned_address(
    tls_server: int, monkeypatch: pytest.MonkeyPatch, name: str, answer: bytes | str
) -> None:
    """Connecting to 127.0.0.1 for dataset.test must still send SNI dataset.test and check the
    certificate against dataset.test: it passes there, and fails for a name the certificate lacks."""
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "ca.pem"))
    resolver = resolving({name: ["127.0.0.1"]})
    url = f"https://{name}:{tls_server}/ok.jsonl"
    if isinstance(answer, bytes):
        assert fetch_sync(url, LIMITS, resolver=resolver).body == answer
    else:
        with pytest.raises(FetchError, match=answer):
            fetch_sync(url, LIMITS, resolver=resolver)
