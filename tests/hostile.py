"""A real HTTP server that misbehaves on purpose: slowloris, endless bodies, lying headers, redirects.

Each route is what an adversarial dataset URL or inference endpoint can do. Every endless
behaviour stops by itself after `GIVE_UP_S`, so a client that fails to bound it ends with a
wrong result (a failed assertion), never a hung test run.
"""

from __future__ import annotations

import functools
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GIVE_UP_S = 60.0
ROW = b'{"sql_prompt": "Q?", "sql_context": "CREATE TABLE t (x);", "sql": "SELECT 1"}\n'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, Callable[[_Handler], None]]

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self._dispatch()

    def _dispatch(self) -> None:
        route = self.routes.get(self.path.split("?", 1)[0])
        try:
            if route is None:
                self.reply(404, b"not here")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def reply(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def drip(self, byte: bytes = b" ", every_s: float = 0.05, content_type: str = "application/json") -> None:
        """Headers, then one byte at a time forever: each byte resets a read timeout."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        until = time.monotonic() + GIVE_UP_S
        while time.monotonic() < until:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(byte), byte))
            self.wfile.flush()
            time.sleep(every_s)

    def endless(self, chunk: bytes = ROW * 1000) -> None:
        """A chunked body without end (no Content-Length to refuse early)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        until = time.monotonic() + GIVE_UP_S
        while time.monotonic() < until:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    def declare(self, size: int) -> None:
        """A Content-Length that no cap admits, then a trickle."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.drip_body()

    def drip_body(self) -> None:
        until = time.monotonic() + GIVE_UP_S
        while time.monotonic() < until:
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(0.05)

    def slow_headers(self) -> None:
        """A status line, then header bytes one at a time: the body never starts."""
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        until = time.monotonic() + GIVE_UP_S
        while time.monotonic() < until:
            self.wfile.write(b"X")
            self.wfile.flush()
            time.sleep(0.05)

    def hang(self) -> None:
        """Accept the request, answer nothing."""
        time.sleep(GIVE_UP_S)

    def log_message(self, format: str, *args: object) -> None:
        pass


@functools.cache
def gzip_bomb(size: int) -> bytes:
    return gzip.compress(b" " * size, compresslevel=9)


def standard_routes(base: Callable[[], str]) -> dict[str, Callable[[_Handler], None]]:
    """The hostile behaviours shared by the fetch, dataset, probe and validate tests."""
    bomb = gzip_bomb(32 * 2**20)  # made before serving, so a client's deadline does not count it
    return {
        "/ok.jsonl": lambda h: h.reply(200, ROW, "text/plain"),
        "/slowloris.jsonl": lambda h: h.drip(),
        "/hang.jsonl": lambda h: h.hang(),
        "/endless.jsonl": lambda h: h.endless(),
        "/declared-huge.jsonl": lambda h: h.declare(10 * 2**30),
        "/gzip-bomb.jsonl": lambda h: h.reply(200, bomb, "text/plain", Content_Encoding="gzip"),
        "/redirect-metadata.jsonl": lambda h: h.reply(302, b"", Location="http://169.254.169.254/latest/meta-data"),
        "/redirect-allowed.jsonl": lambda h: h.reply(
            302, b"", Location=base().replace("127.0.0.1", "localhost") + "/ok.jsonl"
        ),
        "/redirect-loop.jsonl": lambda h: h.reply(
            302, b"", Location=base().replace("127.0.0.1", "localhost") + "/redirect-loop.jsonl"
        ),
    }


@contextmanager
def hostile_server(extra: dict[str, Callable[[_Handler], None]] | None = None) -> Iterator[str]:
    """Serve the standard hostile routes (and `extra`) on 127.0.0.1; yields the base URL."""
    url = ""
    handler = type("Handler", (_Handler,), {"routes": {**standard_routes(lambda: url), **(extra or {})}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
