"""`python -m quantop.validation.scoring_worker LIMITS_JSON`: score examples one per JSON line, confined.

The parent (`scoring_sandbox.ScoringPool`) writes `{"metric", "example", "answer"}` lines and
reads `{"correct", "error"}` lines. Before the first example the worker caps its own address
space, file writes and core dumps, and SQLite's heap; before each example it allows itself
`cpu_s` more seconds of CPU, so a runaway query is killed by the kernel (SIGXCPU) even if
SQLite never calls back. The parent's wall deadline covers the rest (a worker blocked on I/O).
"""

from __future__ import annotations

import json
import math
import resource
import sqlite3
import sys
from typing import Any

from .dataset import Example
from .scoring import ExecutionResult, score_answer

#: Exit code after a MemoryError: the interpreter may be in a bad state, so the parent starts a new worker.
EXIT_MEMORY = 3


def confine(memory_bytes: int, sqlite_heap_bytes: int) -> None:
    """Limits that hold for the worker's whole life."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # an in-memory database never writes a file
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    conn = sqlite3.connect(":memory:")
    conn.execute(f"PRAGMA hard_heap_limit = {int(sqlite_heap_bytes)}")
    conn.close()


def allow_cpu(seconds: float) -> None:
    """Let the next example use `seconds` more CPU than used so far (RLIMIT_CPU counts the process's life)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = math.ceil(used + seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def score_line(line: str, cpu_s: float) -> dict[str, Any]:
    request = json.loads(line)
    allow_cpu(cpu_s)
    result: ExecutionResult = score_answer(request["metric"], Example(**request["example"]), request["answer"])
    return {"correct": result.correct, "error": result.error}


def _reply(reply: dict[str, Any]) -> None:
    if isinstance(reply.get("error"), str):
        reply["error"] = reply["error"][:500]  # an error can quote a dataset's pattern: keep the line short
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    limits = json.loads(argv[0])
    confine(limits["memory_bytes"], limits["sqlite_heap_bytes"])
    _reply({"ready": True})  # the parent tells "could not start" (a broken install) from "an example killed it"
    for line in sys.stdin:
        try:
            reply = score_line(line, limits["cpu_s"])
        except MemoryError:
            _reply({"correct": False, "error": "scoring ran out of its memory limit", "exit": True})
            return EXIT_MEMORY
        except Exception as exc:  # a bug or an input no guard foresaw: this example is wrong, the worker lives on
            reply = {"correct": False, "error": f"scoring failed: {type(exc).__name__}: {exc}"}
        _reply(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
