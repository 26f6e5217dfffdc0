"""Local processes standing in for containers: started in their own process group, always reaped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def quantop_command(*args: str) -> list[str]:
    """Run `quantop` with the interpreter of this process (works from a venv without PATH)."""
    return [sys.executable, "-m", "quantop.cli", *args]


@contextlib.contextmanager
def tgi_emulator(*args: str, timeout: float = 30.0) -> Iterator[str]:
    """`quantop emulate-tgi ARGS` on a free port, for tests and benchmarks: yields its URL once
    /health answers, and stops it on exit."""
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        quantop_command("emulate-tgi", "--port", str(port), *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the TGI emulator ({' '.join(args)}) did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Process:
    name: str
    proc: asyncio.subprocess.Process
    log: Path
    port: int | None = None
    started: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    async def stop(self, grace: float = 3.0) -> int | None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        return self.proc.returncode


class Supervisor:
    """Starts and stops every local process of the sandbox; nothing outlives :meth:`stop_all`."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, Process] = {}

    async def start(
        self, name: str, argv: list[str], *, port: int | None = None, env: dict[str, str] | None = None
    ) -> Process:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so children die with it
                env={**os.environ, **(env or {})},
            )
        p = Process(name=name, proc=proc, log=log, port=port)
        self.processes[name] = p
        return p

    async def stop(self, name: str) -> int | None:
        p = self.processes.pop(name, None)
        return None if p is None else await p.stop()

    async def stop_all(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes.values()), return_exceptions=True)
        self.processes.clear()
