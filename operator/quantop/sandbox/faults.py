"""A fault-injecting proxy between the operator and the emulated API server (never on the product's path).

Each request is forwarded unless a draw says otherwise: a write answered 409 without reaching
the server, a request answered 500 (for a write, half the time after the server applied it: the
client cannot tell), an answer held past the client's timeout (the request still reaches the
server), or a watch stream cut after a short while. Chosen writes can also fail once.

The draw of a request depends only on the seed, its method and path and how many requests with
the same method and path came before it, so a failing run replays with the same seed even though
kopf's and quantop's requests interleave differently each time. Every injected fault is logged in
:attr:`FaultProxy.injected` as "<kind> <METHOD> <path>": conflict, error (not applied), error-after
(applied), slow (applied, answered late), cut, chosen (a fail_once write, not applied).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from kopf.testing import KopfRunner

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}

#: Decides whether a write fails once: (method, path, JSON body or None) -> bool.
WriteMatch = Callable[[str, str, Any], bool]


@dataclass(frozen=True)
class FaultRates:
    """How often a request is faulted, and how.

    A faulted write gets a 409, a 500 or a slow answer (one in three each); a faulted read a 500 or
    a slow answer; a faulted watch is cut. So ``rate`` is the share of requests that fail, of each sort.
    """

    rate: float = 0.0
    #: How long a slow answer is held: past the client's timeout.
    slow_seconds: float = 3.0


def draw(seed: int, method: str, path: str, nth: int) -> random.Random:
    """The random source of one request: the same for the same request in a replay."""
    return random.Random(f"{seed}|{method}|{path}|{nth}")


def fault_for(rates: FaultRates, rng: random.Random, *, method: str, watch: bool) -> str | None:
    """Which fault (or None) a request gets: 409 only for writes, cuts only for watches, slow never for watches."""
    if rng.random() >= rates.rate:
        return None
    if watch:
        return "cut"
    return rng.choice(("conflict", "error", "slow") if method in _WRITES else ("error", "slow"))


class FaultProxy:
    """Forwards to ``upstream`` on 127.0.0.1:<port>, injecting faults at ``rates`` drawn from ``seed``."""

    def __init__(self, upstream: str, rates: FaultRates, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.rates = rates
        self.seed = seed
        self.enabled = True
        self.injected: list[str] = []
        self._seen: Counter[tuple[str, str]] = Counter()
        self._fail_once: list[WriteMatch] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    def fail_once(self, match: WriteMatch) -> None:
        """The next write that ``match`` accepts is answered 500 without reaching the server."""
        self._fail_once.append(match)

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _chosen(self, method: str, path: str, body: bytes) -> bool:
        if method not in _WRITES or not self._fail_once:
            return False
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        for match in self._fail_once:
            if match(method, path, parsed):
                self._fail_once.remove(match)
                return True
        return False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        body = await request.read()
        watch = request.query.get("watch") in ("true", "1")
        key = (method, path)
        rng = draw(self.seed, method, path, self._seen[key])
        self._seen[key] += 1
        fault = fault_for(self.rates, rng, method=method, watch=watch) if self.enabled else None
        if fault == "error" and method in _WRITES and rng.random() < 0.5:
            fault = "error-after"  # the server applies the write; the client hears it failed
        if self._chosen(method, path, body):
            fault = "chosen"
        if fault is not None:
            self.injected.append(f"{fault} {method} {path}")
        if fault in ("conflict", "chosen", "error"):
            return _status(409 if fault == "conflict" else 500, f"injected {fault} ({method} {path})")
        return await self._forward(request, body, fault, rng)

    async def _forward(
        self, request: web.Request, body: bytes, fault: str | None, rng: random.Random
    ) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method, self.upstream + str(request.rel_url), data=body or None, headers=headers
        ) as upstream:
            if fault == "error-after":
                return _status(500, f"injected error after {request.method} {request.path} was applied")
            if fault == "slow":
                await asyncio.sleep(self.rates.slow_seconds)
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS},
            )
            try:
                await response.prepare(request)
            except ConnectionError:  # the client gave up (a slow answer past its timeout)
                return response
            # A cut comes after up to 2 s of the stream, whether or not events flowed meanwhile.
            cut_after = rng.uniform(0.0, 2.0) if fault == "cut" else None
            with contextlib.suppress(ConnectionError, aiohttp.ClientPayloadError, TimeoutError):
                async with asyncio.timeout(cut_after):
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
            if cut_after is not None and request.transport is not None:
                request.transport.abort()
            return response


def _status(code: int, message: str) -> web.Response:
    reason = "Conflict" if code == 409 else "InternalError"
    body = {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code, "reason": reason}
    return web.json_response({**body, "message": message}, status=code)


@contextlib.asynccontextmanager
async def fault_proxy(upstream: str, rates: FaultRates, seed: int = 0) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(upstream, rates, seed)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@contextlib.asynccontextmanager
async def operator_behind(
    api_url: str, *, resync_seconds: float = 1.0, api_timeout_seconds: float = 2.0
) -> AsyncIterator[KopfRunner]:
    """The real operator (kopf, in a thread) talking to ``api_url`` (a proxy), with short API timeouts.

    As quantop.sandbox.cluster.operator, but the URL is the proxy's and a held answer times out in
    ``api_timeout_seconds``, not in 30 s (quantop) and 5 min (kopf).
    """
    os.environ["QUANTOP_KUBE_API"] = api_url
    os.environ["QUANTOP_RESYNC_SECONDS"] = str(resync_seconds)
    os.environ["QUANTOP_API_TIMEOUT_SECONDS"] = str(api_timeout_seconds)
    runner = KopfRunner(["run", "-A", "--standalone", "-m", "quantop.controller.handlers"], timeout=60)
    runner.__enter__()
    try:
        yield runner
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)
        os.environ.pop("QUANTOP_API_TIMEOUT_SECONDS", None)
