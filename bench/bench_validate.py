"""How exact the load test is: client-measured percentiles vs the TGI emulator's recorded truth.

1. 100 and 1000 concurrent streams against the `a10-eetq` profile (the guide's setting is 100):
   p50/p95/p99 measured by locust (raw samples) vs the server-side durations, relative error,
   and the client's own scheduling delay.
2. The highest request rate one locust process sustains (tiny responses), and with 2 workers.
3. How long a validation must run for a given precision of p95 (bootstrap over the 100-user
   samples), against the guide's fixed 5 minutes.

Prints figures; asserts nothing. `make bench` runs it; BENCH_SECONDS shortens the runs.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

import httpx

from quantop.sandbox.processes import tgi_emulator
from quantop.validation.dataset import load_dataset, sample
from quantop.validation.load import LoadSettings, run_load
from quantop.validation.scoring import prompt_for
from quantop.validation.stats import percentile

SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
WARMUP = 5.0
BIG_QUEUE = ("--max-concurrent-requests", "4096")  # measure queueing, not 429s


def truth(url: str) -> list[float]:
    records = [r for r in httpx.get(f"{url}/emulator/requests", timeout=30).json() if r["status"] == 200]
    if not records:
        return []
    t0 = min(r["start"] for r in records)
    return [r["duration_ms"] for r in records if r["start"] >= t0 + WARMUP]


def accuracy_run(users: int, prompts: list[str], work: Path) -> list[float]:
    with tgi_emulator("--profile", "a10-eetq", "--set", "max_batch_size=4096", *BIG_QUEUE) as url:
        s = run_load(LoadSettings(url, users, SECONDS, WARMUP, 128, prompts), work / f"u{users}")
        server = truth(url)
    print(f"\n{users} streams, {SECONDS:.0f} s (+{WARMUP:.0f} s warm-up): {s.requests} requests, {s.errors} errors, "
          f"{s.requests_per_second:.1f} req/s, concurrency {s.achieved_concurrency:.0f}, "
          f"client scheduling delay p99 {s.client_lag_p99_ms or 0:.1f} ms")  # fmt: skip
    if not s.e2e or not server:
        print(f"  no request finished inside the window: BENCH_SECONDS={SECONDS:.0f} is too short for this load")
        return s.latencies_ms
    print(f"  {'':5} {'client ms':>10} {'server ms':>10} {'rel. error':>10}")
    for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        client, srv = s.e2e[key].value, percentile(server, q)
        print(f"  {key:5} {client:10.1f} {srv:10.1f} {(client - srv) / srv:+10.2%}")
    for warning in s.warnings:
        print(f"  warning: {warning}")
    return s.latencies_ms


def max_rate(prompts: list[str], work: Path) -> None:
    print("\nhighest sustained rate (16-token answers at 1/100 of the A10 latency):")
    for workers, users in ((1, 50), (1, 200), (2, 200)):
        with tgi_emulator("--profile", "a10-eetq", "--set", "latency_scale=0.01", *BIG_QUEUE) as url:
            s = run_load(LoadSettings(url, users, min(SECONDS, 15), 2, 16, prompts, workers=workers), work / "rate")
        print(f"  {workers} process(es), {users:4} users: {s.requests_per_second:7.0f} req/s, "
              f"{s.output_tokens_per_second:8.0f} streamed tokens/s, p50 {s.e2e['p50'].value:6.1f} ms, "
              f"client delay p99 {s.client_lag_p99_ms or 0:6.1f} ms")  # fmt: skip


def duration_for_precision(latencies: list[float], rps: float) -> None:
    print("\nprecision of p95 vs validation length (bootstrap of the 100-stream samples, 200 resamples):")
    rng = random.Random(0)
    for minutes in (0.5, 1, 2, 5):
        n = max(int(rps * minutes * 60), 10)
        estimates = sorted(percentile(rng.choices(latencies, k=n), 0.95) for _ in range(200))
        lo, hi = estimates[5], estimates[194]
        mid = percentile(latencies, 0.95)
        print(
            f"  {minutes:4} min ({n:5} requests): p95 95% interval {lo:7.0f}-{hi:7.0f} ms (±{(hi - lo) / 2 / mid:.1%})"
        )
    print("  the guide ran a fixed 5 minutes; quantop reports the interval so a shorter run can be judged")


def main() -> int:
    prompts = [prompt_for(e) for e in sample(load_dataset("builtin:text-to-sql"), 200)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        latencies = accuracy_run(100, prompts, work)
        accuracy_run(1000, prompts, work)
        max_rate(prompts, work)
    rps = len(latencies) / SECONDS
    duration_for_precision(latencies, rps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
