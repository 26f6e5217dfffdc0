"""The one way quantop fetches a URL a user gave it: a total deadline, a size cap, no surprise redirects.

A read timeout alone does not bound a fetch: a server that sends one byte every few seconds
(slowloris) resets it forever. So the whole exchange, connect to last byte, runs under one
deadline; the body is counted as it streams (after decompression, so a gzip bomb stops at the
cap too); and a redirect is followed only to a host the operator's config allow-lists, because a
dataset URL is otherwise a way to make a pod with cluster-wide rights reach any address.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import os
from dataclasses import dataclass, field

import httpx

#: Hosts a redirect may lead to, comma-separated (e.g. the CDN that a dataset hub redirects to).
REDIRECT_HOSTS_ENV = "QUANTOP_FETCH_REDIRECT_HOSTS"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MIB = 2**20


def _redirect_hosts_from_env() -> frozenset[str]:
    raw = os.environ.get(REDIRECT_HOSTS_ENV, "")
    return frozenset(h.strip().lower() for h in raw.split(",") if h.strip())


@dataclass(frozen=True)
class FetchLimits:
    deadline_s: float = 30.0
    max_bytes: int = 64 * MIB
    redirect_hosts: frozenset[str] = field(default_factory=_redirect_hosts_from_env)
    max_redirects: int = 3


class FetchError(Exception):
    """One line that says what went wrong with the URL and what to change.

    `kind` tells callers apart what they may treat differently: "connect" (refused, no route, no
    such host), "timeout", "too_large", "redirect", "url" or "http" (any other transport error)."""

    def __init__(self, message: str, kind: str = "http") -> None:
        super().__init__(message)
        self.kind = kind


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


#: Cloud metadata services by name; by address they are link-local (169.254.169.254, fd00:ec2::254 aside).
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.com", "fd00:ec2::254"})


def _is_metadata_host(host: str) -> bool:
    """A dataset is never served from the node's link-local range, where cloud credentials are.

    Only what the URL names is checked (no DNS lookup): a name that resolves there is the cluster's
    egress policy's to stop."""
    host = host.lower().strip("[]").rstrip(".")
    if host in METADATA_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_link_local
    except ValueError:
        return False


def _next_hop(url: httpx.URL, response: httpx.Response, limits: FetchLimits, hops: int) -> httpx.URL:
    target = url.join(response.headers.get("location", ""))
    if target.host.lower() not in limits.redirect_hosts or target.scheme not in ("http", "https"):
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


async def _exchange(client: httpx.AsyncClient, url: httpx.URL, limits: FetchLimits) -> Fetched:
    for hops in range(limits.max_redirects + 1):
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
    url: str, limits: FetchLimits | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> Fetched:
    """GET `url` within `limits`; FetchError (one line) for anything that is not a complete, capped answer."""
    limits = limits or FetchLimits()
    parsed = _check_scheme(url)
    timeout = httpx.Timeout(limits.deadline_s)
    try:
        async with (
            asyncio.timeout(limits.deadline_s),
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=transport) as client,
        ):
            return await _exchange(client, parsed, limits)
    except (TimeoutError, httpx.TimeoutException):
        raise FetchError(f"{url}: no complete answer within {limits.deadline_s:g} s", "timeout") from None
    except httpx.HTTPError as exc:
        kind = "connect" if isinstance(exc, httpx.ConnectError) else "http"
        raise FetchError(f"{url}: cannot fetch: {str(exc)[:200] or type(exc).__name__}", kind) from None


def fetch_sync(url: str, limits: FetchLimits | None = None) -> Fetched:
    """`fetch` for synchronous callers; from inside an event loop it runs on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch(url, limits))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, fetch(url, limits)).result()
