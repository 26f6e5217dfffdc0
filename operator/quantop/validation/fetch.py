"""The one way quantop fetches a URL a user gave it: a total deadline, a size cap, no surprise redirects,
and only to addresses the fetch policy allows.

A read timeout alone does not bound a fetch: a server that sends one byte every few seconds
(slowloris) resets it forever. So the whole exchange, name lookup to last byte, runs under one
deadline; the body is counted as it streams (after decompression, so a gzip bomb stops at the
cap too); and a redirect is followed only to a host the operator's config allow-lists, because a
dataset URL is otherwise a way to make a pod with cluster-wide rights reach any address.

Where it may connect: each host is resolved once, every address it resolves to is checked against
the denied networks (api.fetch_policy), and the connection goes to the checked address: the
transport never resolves the name again, so a DNS answer that changes between the check and the
connect (rebinding) cannot lead it elsewhere. The Host header and TLS (SNI and the certificate
check) still use the name in the URL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import ipaddress
import os
import socket
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
import pydantic

from quantop.api.config import OperatorConfig
from quantop.api.fetch_policy import (
    ALWAYS_DENIED,
    DENIED_NETWORKS_ENV,
    REDIRECT_HOSTS_ENV,
    FetchPolicy,
    IPAddress,
    IPNetwork,
    embedded_ipv4,
)

from .pinned_transport import PinnedTransport

__all__ = ["REDIRECT_HOSTS_ENV", "FetchError", "FetchLimits", "Fetched", "Resolver", "fetch", "fetch_sync"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MIB = 2**20

#: Resolves a host name to the addresses to connect to (a test passes its own; no DNS needed).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class FetchError(Exception):
    """One line that says what went wrong with the URL and what to change.

    `kind` tells callers apart what they may treat differently: "connect" (refused, no route, no
    such host), "timeout", "too_large", "redirect", "url" (a URL or address that is never fetched),
    "config" (the process's fetch policy is malformed) or "http" (any other transport error)."""

    def __init__(self, message: str, kind: str = "http") -> None:
        super().__init__(message)
        self.kind = kind


#: The operator's config file, set by `quantop run --config`; a validation Job has none.
CONFIG_ENV = "QUANTOP_CONFIG"


@functools.lru_cache(maxsize=4)
def _config_policy(path: str) -> FetchPolicy:
    # The operator reads its config once, at startup (a change restarts it): so does this.
    return OperatorConfig.load(path).fetch


def _policy_from_env() -> FetchPolicy:
    """This process's policy: the operator's config file (`fetch:`) in the operator; in a validation Job,
    or `quantop validate` run by hand, the environment (the operator gives its Jobs its own policy)."""
    config = os.environ.get(CONFIG_ENV)
    try:
        return _config_policy(config) if config else FetchPolicy.from_env()
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise FetchError(f"fetch policy in {config}: {where}: {first['msg']}", "config") from None
    except (OSError, ValueError) as exc:
        raise FetchError(f"fetch policy: {str(exc).splitlines()[0]}", "config") from None


def _redirect_hosts_from_env() -> frozenset[str]:
    return frozenset(_policy_from_env().redirect_hosts)


def _denied_networks_from_env() -> tuple[IPNetwork, ...]:
    return _policy_from_env().networks()[len(ALWAYS_DENIED) :]


@dataclass(frozen=True)
class FetchLimits:
    deadline_s: float = 30.0
    max_bytes: int = 64 * MIB
    redirect_hosts: frozenset[str] = field(default_factory=_redirect_hosts_from_env)
    max_redirects: int = 3
    #: Denied on top of ALWAYS_DENIED, which no limits can lift.
    denied_networks: tuple[IPNetwork, ...] = field(default_factory=_denied_networks_from_env)


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    reason: str
    content_type: str
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8-sig", errors="replace")


def _check_scheme(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"{url!r:.200}: not a valid URL ({exc})", "url") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(f"{url!r:.200}: only http:// and https:// URLs with a host can be fetched", "url")
    if _is_metadata_host(parsed.host):
        raise FetchError(f"{url!r:.200}: link-local and cloud metadata addresses are never fetched", "url")
    return parsed


#: Cloud metadata services by name; by address they are in ALWAYS_DENIED.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.com", "fd00:ec2::254"})


def _is_metadata_host(host: str) -> bool:
    """A dataset is never served from the node's link-local range, where cloud credentials are.

    This catches what the URL names; what a name resolves to is checked by `_connect_addresses`."""
    host = host.lower().strip("[]").rstrip(".")
    if host in METADATA_HOSTS:
        return True
    address = _literal_address(host)
    return address is not None and _denied_by(address, ALWAYS_DENIED) is not None


def _literal_address(host: str) -> IPAddress | None:
    """The address a URL's host spells literally (brackets, a trailing dot and a %25-escaped zone allowed)."""
    text = urllib.parse.unquote(host.strip("[]").rstrip("."))
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _denied_by(address: IPAddress, networks: Sequence[IPNetwork]) -> IPNetwork | None:
    """The denied network `address` is in, looking through IPv6 forms that carry an IPv4 address."""
    plain = ipaddress.ip_address(str(address).split("%")[0])  # a zone id does not move an address
    candidates = [plain, *([v4] if (v4 := embedded_ipv4(plain)) is not None else [])]
    for network in networks:
        if any(a.version == network.version and a in network for a in candidates):
            return network
    return None


async def _system_resolver(host: str, port: int) -> Sequence[str]:
    """getaddrinfo on a daemon thread of its own, not the loop's executor: `asyncio.run` (fetch_sync)
    waits for that executor's threads on the way out, so a lookup stuck in the system resolver would
    hold fetch_sync past its deadline. A lookup abandoned at the deadline ends on its own."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[list[str]] = loop.create_future()

    def settle(result: list[str] | None, error: BaseException | None) -> None:
        if answer.done():  # the deadline came first
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result or [])

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome: tuple[list[str] | None, BaseException | None] = ([str(i[4][0]) for i in infos], None)
        except (OSError, UnicodeError) as exc:
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed while the lookup ran
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=lookup, name=f"resolve {host[:40]}", daemon=True).start()
    return await answer


async def _connect_addresses(url: httpx.URL, limits: FetchLimits, resolver: Resolver) -> tuple[str, ...]:
    """The addresses to connect to for `url`'s host: all it resolves to, once each passed the policy."""
    host = url.raw_host.decode("ascii")
    literal = _literal_address(host)
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        try:
            addresses = await resolver(host, url.port or (443 if url.scheme == "https" else 80))
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"{url}: cannot resolve {host}: {exc}", "connect") from None
        if not addresses:
            raise FetchError(f"{url}: {host} resolves to no address", "connect")
    for text in addresses:
        _refuse_denied(url, host, text, limits)
    return tuple(addresses)


def _refuse_denied(url: httpx.URL, host: str, text: str, limits: FetchLimits) -> None:
    address = _literal_address(text)
    if address is None:
        raise FetchError(f"{url}: {host} resolves to {text!r:.60}, which is not an IP address", "url")
    via = "" if host.strip("[]") == text else f"{host} resolves to "
    if (network := _denied_by(address, ALWAYS_DENIED)) is not None:
        raise FetchError(
            f"{url}: {via}{text}, in {network}: link-local, metadata, unspecified, multicast and broadcast "
            "addresses are never fetched; serve the dataset from another address",
            "url",
        )
    if (network := _denied_by(address, limits.denied_networks)) is not None:
        raise FetchError(
            f"{url}: {via}{text}, in {network}, which the operator's fetch.deniedNetworks ({DENIED_NETWORKS_ENV}) "
            "denies; serve the dataset from an allowed address",
            "url",
        )


def _next_hop(url: httpx.URL, response: httpx.Response, limits: FetchLimits, hops: int) -> httpx.URL:
    target = url.join(response.headers.get("location", ""))
    if target.host.lower().rstrip(".") not in limits.redirect_hosts or target.scheme not in ("http", "https"):
        allowed = ", ".join(sorted(limits.redirect_hosts)) or "none"
        raise FetchError(
            f"{url}: redirects ({response.status_code}) to {str(target)[:200]}; quantop follows redirects only to "
            f"allow-listed hosts ({allowed}, set by {REDIRECT_HOSTS_ENV}): use the final URL",
            "redirect",
        )
    if hops >= limits.max_redirects:
        raise FetchError(f"{url}: more than {limits.max_redirects} redirects", "redirect")
    return target


async def _read_capped(response: httpx.Response, url: httpx.URL, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(
            f"{url}: {int(declared) / MIB:.0f} MiB is more than the {max_bytes / MIB:g} MiB limit", "too_large"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{url}: the body is larger than the {max_bytes / MIB:g} MiB limit", "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _exchange(
    client: httpx.AsyncClient, url: httpx.URL, limits: FetchLimits, pin: Callable[[httpx.URL], Awaitable[None]]
) -> Fetched:
    for hops in range(limits.max_redirects + 1):
        await pin(url)  # every hop, the first and each redirect's, connects only to a checked address
        async with client.stream("GET", url) as response:
            if response.status_code in REDIRECT_STATUSES:
                url = _next_hop(url, response, limits, hops)
                continue
            body = await _read_capped(response, url, limits.max_bytes)
            return Fetched(
                str(url), response.status_code, response.reason_phrase, response.headers.get("content-type", ""), body
            )
    raise FetchError(f"{url}: more than {limits.max_redirects} redirects", "redirect")  # pragma: no cover


async def fetch(
    url: str,
    limits: FetchLimits | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver | None = None,
) -> Fetched:
    """GET `url` within `limits`; FetchError (one line) for anything that is not a complete, capped answer.

    `transport` replaces the pinned one (a test's; it then connects as it likes, after the same checks)."""
    limits = limits or FetchLimits()
    parsed = _check_scheme(url)
    pins: dict[str, tuple[str, ...]] = {}

    async def pin(target: httpx.URL) -> None:
        host = target.raw_host.decode("ascii")
        if host not in pins:  # one lookup per host: a second answer could differ from the checked one
            pins[host] = await _connect_addresses(target, limits, resolver or _system_resolver)

    timeout = httpx.Timeout(limits.deadline_s)
    try:
        async with (
            asyncio.timeout(limits.deadline_s),
            httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, transport=transport or PinnedTransport(pins)
            ) as client,
        ):
            return await _exchange(client, parsed, limits, pin)
    except (TimeoutError, httpx.TimeoutException):
        raise FetchError(f"{url}: no complete answer within {limits.deadline_s:g} s", "timeout") from None
    except httpx.HTTPError as exc:
        kind = "connect" if isinstance(exc, httpx.ConnectError) else "http"
        raise FetchError(f"{url}: cannot fetch: {str(exc)[:200] or type(exc).__name__}", kind) from None


def fetch_sync(url: str, limits: FetchLimits | None = None, *, resolver: Resolver | None = None) -> Fetched:
    """`fetch` for synchronous callers; from inside an event loop it runs on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch(url, limits, resolver=resolver))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, fetch(url, limits, resolver=resolver)).result()
