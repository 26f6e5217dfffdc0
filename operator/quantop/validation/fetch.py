"""The one way quantop fetches a URL a user gave it: a total deadline, a size cap, no surprise redirects,
and only to addresses the fetch policy allows.

A read timeout alone does not bound a fetch: a server that sends one byte every few seconds
(slowloris) resets it forever. So the whole exchange, name lookup to last byte, runs under one
deadline; the body is counted as it streams (after decompression, so a gzip bomb stops at the
cap too); and a redirect is followed only to a host the operator's config allow-lists, because a
dataset URL is otherwise a way to make a pod with cluster-wide rights reach any address.

Where it may connect: each host is resolved once, every address it resolves to is checked against
the denied networks (fetch_checks, api.fetch_policy), and the connection goes to a checked address:
the transport (pinned_transport) never resolves the name again, so a DNS answer that changes between the check and the
connect (rebinding) cannot lead it elsewhere. The Host header and TLS (SNI and the certificate
check) still use the name in the URL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pydantic

from quantop.api.config import OperatorConfig
from quantop.api.fetch_policy import REDIRECT_HOSTS_ENV, FetchPolicy, IPNetwork, parse_networks

from .fetch_checks import FetchError, Resolver, connect_addresses, is_metadata_host, system_resolver
from .pinned_transport import PinnedTransport

__all__ = ["REDIRECT_HOSTS_ENV", "FetchError", "FetchLimits", "Fetched", "Resolver", "fetch", "fetch_sync"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MIB = 2**20


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
    return parse_networks(_policy_from_env().denied_networks)


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
    if is_metadata_host(parsed.host):
        raise FetchError(f"{url!r:.200}: link-local and cloud metadata addresses are never fetched", "url")
    return parsed


def _next_hop(url: httpx.URL, response: httpx.Response, limits: FetchLimits, hops: int) -> httpx.URL:
    target = url.join(response.headers.get("location", ""))
    if target.host.lower().rstrip(".") not in limits.redirect_hosts or target.scheme not in ("http", "https"):
        allowed = ", ".join(sorted(limits.redirect_hosts)) or "none"
        raise FetchError(
            f"{url}: redirects ({response.status_code}) to {str(target)[:200]}; quantop follows redirects only to "
            f"allow-listed hosts ({allowed}: the operator's fetch.redirectHosts, {REDIRECT_HOSTS_ENV} in a Job): "
            "use the final URL",
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
            pins[host] = await connect_addresses(target, limits.denied_networks, resolver or system_resolver)

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
