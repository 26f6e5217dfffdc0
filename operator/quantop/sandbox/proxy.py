"""Services as local ports: a small HTTP proxy per Service that follows its selector's ready pods.

Switching the stable Service's selector (a promotion) changes where new requests go, as
kube-proxy would; in-flight streams finish on the pod they started on.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import aiohttp
from aiohttp import web

Backends = Callable[[], list[int]]

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


class ServiceProxy:
    def __init__(self, name: str, backends: Backends, port: int) -> None:
        self.name = name
        self.backends = backends
        self.port = port
        self._rr = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ports = self.backends()
        if not ports:
            # What a client of a Service without ready endpoints sees: the connection is refused.
            return web.json_response({"error": f"service {self.name} has no ready endpoints"}, status=503)
        port = ports[next(self._rr) % len(ports)]
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            async with self._session.request(
                request.method, f"http://127.0.0.1:{port}{request.rel_url}", data=body, headers=headers
            ) as upstream:
                response = web.StreamResponse(
                    status=upstream.status,
                    headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS},
                )
                await response.prepare(request)
                try:
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                except (ConnectionResetError, aiohttp.ClientPayloadError):
                    # Client gone, or the pod died mid-stream: cut the client off as a dead pod would.
                    if request.transport is not None:
                        request.transport.abort()
                return response
        except aiohttp.ClientConnectorError:
            return web.json_response({"error": f"service {self.name}: backend {port} refused"}, status=502)
