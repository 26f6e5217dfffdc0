"""What a fetch checks before it connects: the host a URL names, and every address that host resolves to.

Checking the URL's text is not enough: the system resolver reads `2852039166` or `0xA9FEA9FE` as
169.254.169.254, and any DNS name can point there. So each host is resolved once, every address it
resolves to must be outside the denied networks (api.fetch_policy), and the fetch then connects
only to those addresses (pinned_transport), never to a second answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence

import httpx

from quantop.api.fetch_policy import ALWAYS_DENIED, DENIED_NETWORKS_ENV, IPAddress, IPNetwork, embedded_ipv4

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


#: Cloud metadata services by name; by address they are in ALWAYS_DENIED.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.com", "fd00:ec2::254"})


def is_metadata_host(host: str) -> bool:
    """A dataset is never served from the node's link-local range, where cloud credentials are.

    This catches what the URL names; what a name resolves to is checked by `connect_addresses`."""
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


async def system_resolver(host: str, port: int) -> Sequence[str]:
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
        except Exception as exc:  # whatever it is, the waiting fetch must hear of it
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed while the lookup ran
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=lookup, name=f"resolve {host[:40]}", daemon=True).start()
    return await answer


async def connect_addresses(url: httpx.URL, denied: Sequence[IPNetwork], resolver: Resolver) -> tuple[str, ...]:
    """The addresses to connect to for `url`'s host: all it resolves to, once each one is outside
    ALWAYS_DENIED and `denied`."""
    host = url.raw_host.decode("ascii")
    literal = _literal_address(host)
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        try:
            addresses = await resolver(host, url.port or (443 if url.scheme == "https" else 80))
        except (OSError, UnicodeError, ValueError) as exc:
            raise FetchError(f"{url}: cannot resolve {host}: {exc}", "connect") from None
        if not addresses:
            raise FetchError(f"{url}: {host} resolves to no address", "connect")
    for text in addresses:
        _refuse_denied(url, host, text, denied)
    return tuple(addresses)


def _refuse_denied(url: httpx.URL, host: str, text: str, denied: Sequence[IPNetwork]) -> None:
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
    if (network := _denied_by(address, denied)) is not None:
        raise FetchError(
            f"{url}: {via}{text}, in {network}, which the operator's fetch.deniedNetworks ({DENIED_NETWORKS_ENV}) "
            "denies; serve the dataset from an allowed address",
            "url",
        )
