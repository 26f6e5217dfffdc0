"""An httpx transport that connects each host to the one address it was given, never to a fresh DNS answer.

The fetch checks what a name resolves to and then must connect there: if the transport resolved
the name again, a DNS server answering a public address first and 169.254.169.254 second
(rebinding) would pass the check and reach the metadata service. httpcore opens its TCP
connections through a network backend; this one swaps the host for its pinned address and leaves
everything above the socket alone, so the Host header and TLS (SNI, the certificate's name
check) still use the name in the URL.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Iterable, Mapping, Sequence

import httpcore
import httpx

#: httpcore's socket option type (level, option, value), spelled out: httpcore does not export it.
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to the first of `pins[host]` that answers; a host without pins is refused, not resolved.

    Every pinned address was checked, so trying the next one when the first refuses (a name with
    an IPv6 and an IPv4 address, a server listening on one) keeps the fallback a resolver gives."""

    def __init__(self, pins: Mapping[str, Sequence[str]], inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._pins = pins
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._pins.get(host)
        if not addresses:  # every host is checked and pinned before its request: a bug, never a lookup
            raise httpcore.ConnectError(f"{host}: no checked address to connect to")
        options = list(socket_options or ())
        for address in addresses[:-1]:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return await self._inner.connect_tcp(addresses[-1], port, timeout, local_address, options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a fetch never connects to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its error mapping and response streams) over a PinnedBackend.

    No proxy: a proxy would resolve the name itself, out of the check's reach."""

    def __init__(self, pins: Mapping[str, Sequence[str]], backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        super().__init__(verify=False, trust_env=False)  # a pool replaced below: skip loading CAs for it
        # httpx takes no network backend; its pool is rebuilt the way httpx builds it, with one.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_verifying_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")),
            network_backend=PinnedBackend(pins, backend),
        )


@functools.lru_cache(maxsize=4)
def _verifying_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """httpx's default verifying context (SSL_CERT_FILE or SSL_CERT_DIR, else certifi), made once:
    loading the CA bundle took longer than a whole local fetch."""
    return httpx.create_ssl_context(trust_env=True)
