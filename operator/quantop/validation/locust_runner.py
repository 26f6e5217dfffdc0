"""The load generator: locust as a library, in a process of its own.

`quantop validate` starts this module as a subprocess because locust monkey-patches the
whole interpreter with gevent on import, which must not happen to the asyncio side
(accuracy evaluation, httpx). One process drives the users with FastHttpUser; with
`--workers N` it becomes a locust master and starts N locust worker processes (the same
module with `--worker`), which send their raw samples to the master with locust's own
`report_to_master`/`worker_report` events.

Every request is streamed and timed here, to the microsecond: time to first token, inter-token
latency and end-to-end latency. Samples are written as JSON lines to `--out`; progress goes to
stdout as JSON lines the parent turns into a progress bar.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from quantop.validation.load import LoadPlan, Sample
from quantop.validation.sse import SseParser


class Shared:
    """Process-wide state of the run: locust users are instantiated by locust, not by us."""

    plan: LoadPlan | None = None
    started: float = 0.0
    samples: ClassVar[list[Sample]] = []
    unsent: ClassVar[list[Sample]] = []
    lag_ms: ClassVar[list[float]] = []


def _body(plan: LoadPlan, prompt: str) -> tuple[str, dict[str, Any]]:
    if plan.api == "openai":
        # The raw prompt, as /generate_stream gets it (no chat template), so engines compare like for like.
        return "/v1/completions", {
            "model": plan.served_model,
            "prompt": prompt,
            "max_tokens": plan.max_new_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    if plan.api == "chat":
        return "/v1/chat/completions", {
            "model": "tgi",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": plan.max_new_tokens,
            "stream": True,
        }
    return "/generate_stream", {
        "inputs": prompt,
        "parameters": {"max_new_tokens": plan.max_new_tokens, "details": True},
    }


class TgiUser(FastHttpUser):
    wait_time = constant(0)
    host = "http://127.0.0.1"
    network_timeout = 300.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        assert Shared.plan is not None
        self.rng = random.Random(f"{Shared.plan.seed}:{id(self)}")

    @task
    def generate(self) -> None:
        plan = Shared.plan
        assert plan is not None
        path, body = _body(plan, self.rng.choice(plan.prompts))
        sample = Sample(start=time.time(), e2e_ms=0.0, ttft_ms=None, itl_ms=None, tokens=0, ok=False)
        timing = _Timing(time.perf_counter())
        # One deadline for the whole request, headers included: a server that sends a byte now and
        # then would reset a read timeout for ever.
        deadline = gevent.Timeout(plan.request_timeout)
        deadline.start()
        try:
            with self.client.post(path, json=body, stream=True, catch_response=True, name=path) as resp:
                _measure(resp, sample, timing, deadline)
        except gevent.Timeout as fired:
            if fired is not deadline:
                raise
            sample.error = "timeout"  # before the headers came
        except gevent.GreenletExit:
            sample.error = "stopped"
            raise
        finally:
            deadline.close()
            if not timing.recorded:  # it ended before a response existed to measure
                _finish(sample, timing, None)
                _record(sample)
                timing.recorded = True


def _record(sample: Sample) -> None:
    Shared.samples.append(sample)
    Shared.unsent.append(sample)


def _measure(resp: Any, sample: Sample, timing: _Timing, deadline: gevent.Timeout) -> None:
    try:
        _read_stream(resp, sample, timing)
    except gevent.Timeout as fired:
        if fired is not deadline:
            raise
        sample.error = "timeout"
    except gevent.GreenletExit:
        sample.error = "stopped"  # still running when the stop grace ended: cut, and counted
        raise
    except Exception as exc:  # any client-side failure is a failed request, by kind
        sample.error = _failure_kind(exc)
    finally:
        _finish(sample, timing, resp)
        _record(sample)
        timing.recorded = True


def _failure_kind(exc: BaseException | None) -> str:
    # geventhttpclient wraps a timeout in RetriesExceeded(original=<the Timeout>).
    original = getattr(exc, "original", None)
    if isinstance(exc, gevent.Timeout | TimeoutError) or isinstance(original, gevent.Timeout | TimeoutError):
        return "timeout"
    return "timeout" if "timeout" in type(exc).__name__.lower() else "connection"


class _Timing:
    def __init__(self, start: float) -> None:
        self.start = start
        self.first: float | None = None
        self.last: float | None = None
        self.recorded = False


def _read_stream(resp: Any, sample: Sample, timing: _Timing) -> None:
    if resp.status_code != 200:
        sample.error = f"http_{resp.status_code}" if resp.status_code else _failure_kind(getattr(resp, "error", None))
        return
    parser = SseParser()
    raw = resp._response  # FastResponse.iter_content blocks until 1 KiB; readline does not
    finished = False
    while not finished:
        line = raw.readline(b"\n")
        if not line:
            break
        for event in parser.feed(line):
            now = time.perf_counter()
            if event.error:
                sample.error = f"stream_{event.error_type}"
                finished = True
            if event.token:
                timing.first = timing.first if timing.first is not None else now
                timing.last = now
                sample.tokens += 1
            if event.done:
                finished = True
    if sample.error is None and not finished:
        sample.error = "incomplete"


def _finish(sample: Sample, timing: _Timing, resp: Any | None) -> None:
    end = time.perf_counter()
    sample.e2e_ms = (end - timing.start) * 1000
    if timing.first is not None:
        sample.ttft_ms = (timing.first - timing.start) * 1000
    if timing.first is not None and timing.last is not None and sample.tokens > 1:
        sample.itl_ms = (timing.last - timing.first) * 1000 / (sample.tokens - 1)
    sample.ok = sample.error is None
    if resp is None:
        return
    resp.request_meta["response_time"] = sample.e2e_ms
    if sample.ok:
        resp.success()
    else:
        resp.failure(sample.error)


def _watch_lag() -> None:
    # How late a 100 ms sleep wakes up: the client's own scheduling delay, added to every timing.
    while True:
        t = time.perf_counter()
        gevent.sleep(0.1)
        Shared.lag_ms.append((time.perf_counter() - t - 0.1) * 1000)


def _send_samples(client_id: str, data: dict[str, Any]) -> None:
    data["quantop_samples"] = [asdict(s) for s in Shared.unsent]
    data["quantop_lag_ms"] = list(Shared.lag_ms)
    Shared.unsent = []
    Shared.lag_ms = []


def _receive_samples(client_id: str, data: dict[str, Any]) -> None:
    Shared.samples.extend(Sample(**s) for s in data.get("quantop_samples", []))
    Shared.lag_ms.extend(data.get("quantop_lag_ms", []))


events.report_to_master.add_listener(_send_samples)  # type: ignore[no-untyped-call]
events.worker_report.add_listener(_receive_samples)  # type: ignore[no-untyped-call]


def _write_live(plan: LoadPlan, written: int) -> int:
    """Append the samples finished since the last call to the live file the parent judges from."""
    if not plan.live_path or written >= len(Shared.samples):
        return written
    with Path(plan.live_path).open("a") as fh:
        for sample in Shared.samples[written:]:
            fh.write(json.dumps(asdict(sample)) + "\n")
    return len(Shared.samples)


def _progress(env: Environment, run_seconds: float) -> None:
    written = 0
    while True:
        gevent.sleep(1.0)
        assert Shared.plan is not None
        written = _write_live(Shared.plan, written)  # before the progress line, so the parent reads them
        errors = sum(1 for s in Shared.samples if not s.ok)
        users = env.runner.user_count if env.runner else 0
        elapsed = time.perf_counter() - Shared.started
        line = {"elapsed": round(elapsed, 1), "of": run_seconds, "requests": len(Shared.samples), "errors": errors}
        print(json.dumps(line | {"users": users}), flush=True)


def _stop_timeout(plan: LoadPlan) -> float:
    """How long in-flight requests may finish after the window: bounded, whatever the server does."""
    return min(plan.request_timeout, plan.stop_grace)


def run_master_or_local(plan: LoadPlan, out: Path, workers: int, master_port: int) -> int:
    Shared.plan = plan
    env = Environment(user_classes=[TgiUser], host=plan.endpoint, stop_timeout=_stop_timeout(plan), events=events)
    TgiUser.host = plan.endpoint
    TgiUser.network_timeout = plan.request_timeout
    procs = []
    if workers > 1:
        runner: Any = env.create_master_runner("127.0.0.1", master_port)
        port = runner.server.port if hasattr(runner.server, "port") else master_port
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "quantop.validation.locust_runner", "--worker", "--master-port", str(port)],
                    stdout=subprocess.DEVNULL,
                )
            )
        deadline = time.time() + 60
        while len(runner.clients.ready) < workers:
            if time.time() > deadline:
                print(json.dumps({"fatal": f"only {len(runner.clients.ready)} of {workers} locust workers joined"}))
                return 2
            gevent.sleep(0.2)
        # Workers read the plan from the master's custom message before any user starts.
        runner.send_message("quantop_plan", asdict(plan))
        gevent.sleep(0.5)
    else:
        runner = env.create_local_runner()
    lag = gevent.spawn(_watch_lag)
    Shared.started = time.perf_counter()
    started_epoch = time.time()
    runner.start(plan.users, spawn_rate=max(plan.users, 1))
    if plan.live_path:
        Path(plan.live_path).write_text(json.dumps({"started": started_epoch}) + "\n")
    progress = gevent.spawn(_progress, env, plan.run_seconds)
    _run_until_stopped(plan)
    stopped_epoch = time.time()
    # Stop sending, let in-flight requests finish (stop_timeout), so long requests are not censored.
    runner.stop()
    if isinstance(runner, MasterRunner):
        gevent.sleep(3.5)  # one last worker report (every 3 s) carries the samples finished at stop
        runner.quit()
        # Samples are in; a worker that misses the quit message must not hold the run.
        deadline = time.monotonic() + 3
        while any(proc.poll() is None for proc in procs) and time.monotonic() < deadline:
            gevent.sleep(0.1)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
    lag.kill()
    progress.kill()
    with out.open("w") as fh:
        header = {"started": started_epoch, "stopped": stopped_epoch, "lag_ms": Shared.lag_ms, "workers": workers}
        fh.write(json.dumps(header) + "\n")
        for sample in Shared.samples:
            fh.write(json.dumps(asdict(sample)) + "\n")
    return 0


def _run_until_stopped(plan: LoadPlan) -> None:
    """Send load for the planned time, or until the parent asks to stop (its verdicts are certain)."""
    deadline = time.perf_counter() + plan.run_seconds
    stop = Path(plan.stop_path) if plan.stop_path else None
    while (left := deadline - time.perf_counter()) > 0:
        if stop is not None and stop.exists():
            return
        gevent.sleep(min(left, 0.25))


def run_worker(master_port: int) -> int:
    env = Environment(user_classes=[TgiUser], events=events)
    runner: WorkerRunner = env.create_worker_runner("127.0.0.1", master_port)

    def on_plan(msg: Any, **_: Any) -> None:
        Shared.plan = LoadPlan(**msg.data)
        TgiUser.host = Shared.plan.endpoint
        TgiUser.network_timeout = Shared.plan.request_timeout
        env.host = Shared.plan.endpoint
        env.stop_timeout = _stop_timeout(Shared.plan)

    runner.register_message("quantop_plan", on_plan)
    gevent.spawn(_watch_lag)
    runner.greenlet.join()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m quantop.validation.locust_runner")
    p.add_argument("--plan", type=Path, help="JSON LoadPlan")
    p.add_argument("--out", type=Path, help="where to write the raw samples (JSON lines)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--master-port", type=int, default=5557)
    p.add_argument("--worker", action="store_true")
    args = p.parse_args(argv)
    if args.worker:
        return run_worker(args.master_port)
    plan = LoadPlan(**json.loads(args.plan.read_text()))
    return run_master_or_local(plan, args.out, args.workers, args.master_port)


if __name__ == "__main__":
    sys.exit(main())
