"""Scoring in confined worker processes: what a dataset or a model's answer makes SQLite or a regex do
cannot take the validation Job's (or the operator's) CPU, memory or time.

A small pool of `python -m quantop.validation.scoring_worker` processes, started on first use and
reused, so 200 examples cost a few process starts, not 200. Each example has a wall deadline; a
worker that misses it, dies (CPU limit: SIGXCPU; memory limit) or answers garbage is killed and
replaced, and the example scores as wrong with the reason. Talking to workers is asyncio, so the
operator's event loop never waits on a score.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from .dataset import Example
from .load import LoadError
from .scoring import METRICS, ExecutionResult

MIB = 2**20
WORKER_MODULE = "quantop.validation.scoring_worker"
#: Starting Python and importing the scorer; generous for a busy 2-core machine.
STARTUP_DEADLINE_S = 60.0


@dataclass(frozen=True)
class SandboxLimits:
    """Per example: gold and predicted query each have SQLite's 2 s deadline, so 6 s of wall is ample.

    A worker needs about 45 MiB of address space; four of them at the cap stay inside the
    validation Job's 2Gi with the load generator's and the main process's share."""

    wall_s: float = 6.0
    cpu_s: float = 5.0
    memory_bytes: int = 384 * MIB
    sqlite_heap_bytes: int = 192 * MIB
    max_answer_chars: int = 256 * 1024


class SandboxError(LoadError):
    """The sandbox itself cannot run (not: an example failed inside it).

    A LoadError, so validate stops with exit 2 and a one-line reason, as for an unusable endpoint."""


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "HOME", "TMPDIR")}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


#: What asyncio reports for a child whose exit status it could not collect.
LOST_STATUS = 255


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, limits: SandboxLimits) -> _Worker:
        config = json.dumps(
            {"cpu_s": limits.cpu_s, "memory_bytes": limits.memory_bytes, "sqlite_heap_bytes": limits.sqlite_heap_bytes}
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                config,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=_child_env(),
            )
        except OSError as exc:
            raise SandboxError(f"cannot start a scoring worker: {exc}") from None
        worker = cls(proc)
        await worker.until_ready()
        return worker

    async def until_ready(self) -> None:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(STARTUP_DEADLINE_S):
                line = await self.proc.stdout.readline()
        except TimeoutError:
            line = b""
        if line.strip() != b'{"ready": true}':
            await self.stop()
            raise SandboxError(
                f"the scoring worker did not start (exit {self.proc.returncode}): "
                f"run `{sys.executable} -m {WORKER_MODULE} '{{}}'` to see why"
            )

    async def ask(self, request: bytes) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(request)
        await self.proc.stdin.drain()
        return await self.proc.stdout.readline()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()

    def death(self) -> str:
        code = self.proc.returncode
        if code == -signal.SIGXCPU:
            return "scoring used up its CPU limit"
        if code == 3:
            return "scoring ran out of its memory limit"
        if code == LOST_STATUS:
            # The worker never exits 255 itself (0, 1 or 3): asyncio reports 255 when the status of a
            # killed child was collected elsewhere, and only a CPU or memory limit kills it.
            return "scoring worker was killed (exit status lost): its CPU or memory limit"
        return f"scoring worker died (exit {code})"


class ScoringPool:
    """`async with ScoringPool(n) as pool: await pool.score(metric, example, answer)`."""

    def __init__(self, size: int = 2, limits: SandboxLimits | None = None) -> None:
        self.size = max(1, size)
        self.limits = limits or SandboxLimits()
        self._idle: list[_Worker] = []
        self._slots = asyncio.Semaphore(self.size)
        self._all: set[_Worker] = set()

    async def __aenter__(self) -> ScoringPool:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)

    async def score(self, metric: str, example: Example, answer: str) -> ExecutionResult:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
        if len(answer) > self.limits.max_answer_chars:
            return ExecutionResult(False, f"answer longer than {self.limits.max_answer_chars} characters")
        request = json.dumps({"metric": metric, "example": asdict(example), "answer": answer}).encode() + b"\n"
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self._start()
            result, healthy = await self._ask(worker, request)
            if healthy:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                await worker.stop()
            return result

    async def _start(self) -> _Worker:
        worker = await _Worker.start(self.limits)
        self._all.add(worker)
        return worker

    async def _ask(self, worker: _Worker, request: bytes) -> tuple[ExecutionResult, bool]:
        """(the score, whether the worker may be reused)."""
        try:
            async with asyncio.timeout(self.limits.wall_s):
                line = await worker.ask(request)
        except TimeoutError:
            return ExecutionResult(False, f"scoring took longer than {self.limits.wall_s:g} s"), False
        except (ConnectionError, ValueError):  # broken pipe, or a reply line past the stream limit
            line = b""
        if not line:
            await worker.stop()
            return ExecutionResult(False, worker.death()), False
        try:
            reply = json.loads(line)
            return ExecutionResult(bool(reply["correct"]), reply.get("error")), not reply.get("exit")
        except (ValueError, KeyError, TypeError):
            return ExecutionResult(False, "scoring worker answered garbage"), False
