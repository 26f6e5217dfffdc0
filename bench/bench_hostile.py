"""What hostile input costs: wall time and peak RSS of each case of issue 15, one process per case.

Each case runs in a fresh `python` process whose peak RSS (ru_maxrss from wait4) and wall time are
printed; a case still running after CAP seconds is killed and shown as ">CAP". Scoring cases use
the scoring path of the code under test: the sandbox pool if it has one (wait4's figure covers the workers it reaped; each is bounded by
its RLIMIT_AS), in-process scoring otherwise.

    python bench/bench_hostile.py                   # this tree
    python bench/bench_hostile.py --root /tmp/old   # another tree, e.g. `git archive <rev> operator`

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hostile import hostile_server  # noqa: E402

CAP = float(os.environ.get("BENCH_HOSTILE_CAP", "60"))
GIB = 2**30

SCORE = """
import asyncio, sys
from quantop.validation.dataset import Example
metric, context, answer = sys.argv[1], sys.argv[2], sys.argv[3]
gold = "SELECT 1" if metric == "execution-accuracy" else sys.argv[4]
example = Example(id="h", prompt="q", context=context, answer=gold)
try:
    from quantop.validation.scoring_sandbox import ScoringPool
except ImportError:
    from quantop.validation.scoring import score_answer
    print(score_answer(metric, example, answer))
else:
    async def main():
        async with ScoringPool(1) as pool:
            print(await pool.score(metric, example, answer))
    asyncio.run(main())
"""
DATASET = """
import sys
from quantop.validation.dataset import load_dataset, DatasetError
try:
    print(len(load_dataset(sys.argv[1])))
except DatasetError as e:
    print("DatasetError:", e)
"""
ACCURACY = """
import asyncio, sys
from quantop.validation.accuracy import evaluate
from quantop.validation.dataset import Example
ex = [Example(id="1", prompt="q", context="CREATE TABLE t (x);", answer="SELECT 1")]
try:
    r = asyncio.run(evaluate(sys.argv[1], ex, metric="execution-accuracy", timeout_s=10.0))
    print("request errors", r.request_errors)
except Exception as e:
    print(type(e).__name__, str(e)[:120])
"""
FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
CONTEXT = "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);"


def gib_stream(h: Any) -> None:
    """Exactly 1 GiB of JSON lines, chunked, then the end."""
    row = b'{"sql_prompt": "Q?", "sql": "SELECT 1"}\n' * 25_000
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    sent = 0
    while sent < GIB:
        h.wfile.write(b"%x\r\n%s\r\n" % (len(row), row))
        sent += len(row)
    h.wfile.write(b"0\r\n\r\n")


def cases(url: str) -> list[tuple[str, str, list[str]]]:
    sql = lambda context, answer: ["execution-accuracy", context, answer]  # noqa: E731
    return [
        ("score: ATTACH in sql_context", SCORE, sql("ATTACH '/tmp/bench-hostile.db' AS a; CREATE TABLE a.t (x);", "1")),
        ("score: recursive CTE in sql_context", SCORE, sql(f"CREATE TABLE t (x); {FOREVER} INSERT INTO t SELECT x FROM c;", "SELECT 1")),
        ("score: recursive CTE answer", SCORE, sql(CONTEXT, f"{FOREVER} SELECT COUNT(*) FROM c")),
        ("score: printf('%.*c',9e8,'x')", SCORE, sql(CONTEXT, "SELECT printf('%.*c', 9e8, 'x')")),
        ("score: randomblob(9e8)", SCORE, sql(CONTEXT, "SELECT randomblob(9e8)")),
        ("score: hex(zeroblob(4e8))", SCORE, sql(CONTEXT, "SELECT hex(zeroblob(4e8))")),
        ("score: quadratic instr()", SCORE, sql(CONTEXT, "SELECT instr(hex(zeroblob(499999)) || 'x', hex(zeroblob(249999)) || 'y')")),
        ("score: regex ^(a+)+$ on 27 a's", SCORE, ["regex", "", "a" * 27 + "b", "^(a+)+$"]),
        ("dataset URL: 1 GiB stream", DATASET, [url + "/gib.jsonl"]),
        ("dataset URL: slowloris", DATASET, [url + "/slowloris.jsonl"]),
        ("accuracy request: slowloris", ACCURACY, [url + "/drip"]),
    ]  # fmt: skip


def run_case(root: Path, code: str, args: list[str]) -> tuple[float, float, str]:
    env = dict(os.environ, PYTHONPATH=str(root / "operator"))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    killed = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > CAP and not killed:
            proc.kill()
            killed = True
        time.sleep(0.05)
    wall = time.perf_counter() - started
    out = (proc.stdout.read() if proc.stdout else "").strip().splitlines()
    result = "killed at the cap" if killed else (out[-1] if out else f"exit {status}")
    return wall, usage.ru_maxrss / 1024, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="tree whose operator/quantop to measure")
    args = parser.parse_args(argv)
    extra: dict[str, Callable[[Any], None]] = {"/gib.jsonl": gib_stream, "/drip/generate": lambda h: h.drip()}
    print(f"hostile inputs against {args.root} (cap {CAP:.0f} s per case)")
    print("| case | wall s | peak RSS MiB | outcome |\n|---|---|---|---|")
    with hostile_server(extra) as url:
        for name, code, case_args in cases(url):
            wall, rss, result = run_case(args.root, code, case_args)
            shown = f">{CAP:.0f}" if result == "killed at the cap" else f"{wall:.1f}"
            attached = Path("/tmp/bench-hostile.db")
            if attached.exists():
                result = f"created {attached}; " + result
                attached.unlink()
            print(f"| {name} | {shown} | {rss:.0f} | {result[:110]} |", flush=True)


if __name__ == "__main__":
    main()
