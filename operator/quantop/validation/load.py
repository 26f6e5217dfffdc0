"""The load phase of a validation: run locust in its own process, then summarise raw samples.

Definitions follow guidellm and genai-perf so figures compare one to one: TTFT is first
streamed token minus request sent; ITL is (last token - first token) / (tokens - 1); end-to-end
latency is last byte minus request sent (what the guide's table reports). Requests that start
during warm-up are left out; the measured window is the `duration` after it, and requests still
running when it ends are allowed to finish so long requests are not censored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .fetch import FetchError, FetchLimits, fetch_sync
from .stats import Quantile, quantile_with_ci

#: Beyond this scheduling delay (p99 of a 100 ms sleep's overshoot) the client, not the server,
#: is adding latency: add locust workers.
CLIENT_LAG_LIMIT_MS = 20.0


#: Starting locust (and its worker processes, which have 60 s to join), and writing the samples.
STARTUP_ALLOWANCE_S = 90.0
#: Measured load before a run may stop early: warm-up effects and the steady state are both seen.
LOAD_FLOOR_S = 20.0
#: How often a sequential run asks whether its verdicts are certain.
CHECK_EVERY_S = 5.0


class LoadError(Exception):
    """The load test could not run (not: it ran and the server failed)."""


@dataclass
class Sample:
    """One request as the client saw it: durations in ms, start as Unix time (workers share the clock).

    The load generator fills it in as the stream arrives, hence mutable.
    """

    start: float
    e2e_ms: float
    ttft_ms: float | None
    itl_ms: float | None
    tokens: int
    ok: bool
    error: str | None = None


@dataclass
class LoadPlan:
    """What the load generator process is told to do (written as JSON, read by locust_runner)."""

    endpoint: str
    users: int
    run_seconds: float
    max_new_tokens: int
    prompts: list[str]
    api: str = "generate"
    #: The `model` of OpenAI-route requests: vLLM serves only its own name.
    served_model: str = "tgi"
    request_timeout: float = 300.0
    seed: int = 0
    stop_grace: float = 30.0
    #: Where finished samples are appended while the load runs ("" for none), for sequential stopping.
    live_path: str = ""
    #: A file whose appearance ends the load early ("" for none).
    stop_path: str = ""


@dataclass(frozen=True)
class LoadSettings:
    endpoint: str
    users: int
    duration_s: float
    warmup_s: float
    max_new_tokens: int
    prompts: Sequence[str]
    workers: int = 1
    api: str = "generate"
    served_model: str = "tgi"
    #: Each request's total deadline, connect to last byte (a byte now and then does not extend it).
    request_timeout_s: float = 300.0
    #: How long requests still running when the window ends may take to finish; then they are cut
    #: and counted as errors of kind "stopped", so the load test ends within duration + warmup + this.
    stop_grace_s: float = 30.0
    startup_allowance_s: float = STARTUP_ALLOWANCE_S
    #: Asked with the measured seconds so far and the finished samples of the measured window, every
    #: CHECK_EVERY_S once LOAD_FLOOR_S are measured: True ends the load (its verdicts are certain).
    certain: Callable[[float, list[Sample]], bool] | None = None

    def wall_limit_s(self) -> float:
        """The most the load generator process may run: past this it is killed."""
        grace = min(self.stop_grace_s, self.request_timeout_s)
        return self.warmup_s + self.duration_s + grace + self.startup_allowance_s


@dataclass
class LoadSummary:
    window_s: float
    requests: int
    errors: int
    errors_by_kind: dict[str, int]
    e2e: dict[str, Quantile]
    ttft: dict[str, Quantile]
    itl: dict[str, Quantile]
    requests_per_second: float
    output_tokens_per_second: float
    achieved_concurrency: float
    client_lag_p99_ms: float | None
    workers: int
    warnings: list[str] = field(default_factory=list)
    #: The measured window the budget allowed; more than `window_s` when the load stopped early.
    planned_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latencies_ms")
        data["error_rate"] = self.error_rate
        return data


QUANTILES = {"p50": 0.50, "p95": 0.95, "p98": 0.98, "p99": 0.99}


def _quantiles(values: list[float]) -> dict[str, Quantile]:
    return {k: quantile_with_ci(values, q) for k, q in QUANTILES.items()} if values else {}


def summarize(
    samples: Sequence[Sample],
    *,
    started: float,
    warmup_s: float,
    duration_s: float,
    lag_ms: Sequence[float] = (),
    workers: int = 1,
    users: int | None = None,
) -> LoadSummary:
    """Pure: the measured window's figures from raw samples (start as Unix time)."""
    window_start = started + warmup_s
    measured = [s for s in samples if window_start <= s.start < window_start + duration_s]
    ok = [s for s in measured if s.ok]
    errors = Counter(s.error or "unknown" for s in measured if not s.ok)
    e2e = [s.e2e_ms for s in ok]
    lag_p99 = sorted(lag_ms)[int(0.99 * (len(lag_ms) - 1))] if lag_ms else None
    summary = LoadSummary(
        window_s=duration_s,
        requests=len(measured),
        errors=sum(errors.values()),
        errors_by_kind=dict(sorted(errors.items())),
        e2e=_quantiles(e2e),
        ttft=_quantiles([s.ttft_ms for s in ok if s.ttft_ms is not None]),
        itl=_quantiles([s.itl_ms for s in ok if s.itl_ms is not None]),
        requests_per_second=len(ok) / duration_s if duration_s else 0.0,
        output_tokens_per_second=sum(s.tokens for s in ok) / duration_s if duration_s else 0.0,
        achieved_concurrency=sum(s.e2e_ms for s in measured) / 1000 / duration_s if duration_s else 0.0,
        client_lag_p99_ms=lag_p99,
        workers=workers,
        latencies_ms=e2e,
    )
    if not measured:
        summary.warnings.append("no request started inside the measured window: lengthen duration or lower warmup")
    elif len(ok) < 100:
        summary.warnings.append(f"p99 rests on {len(ok)} samples: its confidence interval is wide")
    if lag_p99 is not None and lag_p99 > CLIENT_LAG_LIMIT_MS:
        summary.warnings.append(
            f"the load client was the bottleneck (scheduling delay p99 {lag_p99:.0f} ms > {CLIENT_LAG_LIMIT_MS:.0f} ms): "
            "latencies are inflated; add workers (validation.load.workers)"
        )
    if users and summary.achieved_concurrency < 0.8 * users and measured:
        summary.warnings.append(
            f"achieved concurrency {summary.achieved_concurrency:.1f} is below the {users} users asked for"
        )
    return summary


def read_samples(path: Path) -> tuple[dict[str, Any], list[Sample]]:
    lines = path.read_text().splitlines()
    if not lines:
        raise LoadError(f"the load generator wrote no results to {path}")
    header = json.loads(lines[0])
    return header, [Sample(**json.loads(line)) for line in lines[1:] if line]


def run_load(
    settings: LoadSettings,
    workdir: Path,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> LoadSummary:
    """Run locust (local or master + workers) in a subprocess and summarise what it measured."""
    workdir.mkdir(parents=True, exist_ok=True)
    plan_path, out_path = workdir / "load-plan.json", workdir / "load-samples.jsonl"
    live_path, stop_path = workdir / "load-live.jsonl", workdir / "load-stop"
    stop_path.unlink(missing_ok=True)
    plan = LoadPlan(
        endpoint=settings.endpoint,
        users=settings.users,
        run_seconds=settings.warmup_s + settings.duration_s,
        max_new_tokens=settings.max_new_tokens,
        prompts=list(settings.prompts),
        api=settings.api,
        served_model=settings.served_model,
        request_timeout=settings.request_timeout_s,
        stop_grace=settings.stop_grace_s,
        live_path=str(live_path) if settings.certain else "",
        stop_path=str(stop_path) if settings.certain else "",
    )
    plan_path.write_text(json.dumps(asdict(plan)))
    argv = [sys.executable, "-m", "quantop.validation.locust_runner", "--plan", str(plan_path), "--out", str(out_path)]
    if settings.workers > 1:
        argv += ["--workers", str(settings.workers), "--master-port", str(_free_port())]
    # locust logs to stderr; keep it in a file so the user's terminal shows our progress only.
    log_path = workdir / "locust.log"
    with (
        log_path.open("w") as log,
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True, env=_child_env()) as proc,
    ):
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        watchdog = threading.Timer(settings.wall_limit_s(), kill)
        watchdog.start()
        try:
            watch = _stopper(settings, live_path, stop_path) if settings.certain else None
            fatal = _follow(proc, _both(progress, watch))
            code = proc.wait()
        finally:
            watchdog.cancel()
    if killed.is_set():
        raise LoadError(f"the load generator did not stop within {settings.wall_limit_s():.0f} s and was killed")
    if fatal or code != 0 or not out_path.exists():
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-5:])
        raise LoadError(f"the load generator failed (exit {code}): {fatal or tail.strip() or 'no output'}")
    header, samples = read_samples(out_path)
    summary = summarize(
        samples,
        started=header["started"],
        warmup_s=settings.warmup_s,
        duration_s=measured_seconds(header, settings.warmup_s, settings.duration_s),
        lag_ms=header.get("lag_ms", []),
        workers=settings.workers,
        users=settings.users,
    )
    summary.planned_s = settings.duration_s
    return summary


def measured_seconds(header: dict[str, Any], warmup_s: float, duration_s: float) -> float:
    """The measured window: the budget, or less when the load was stopped early (header "stopped")."""
    stopped = header.get("stopped")
    if not isinstance(stopped, int | float) or not isinstance(header.get("started"), int | float):
        return duration_s
    return max(min(duration_s, float(stopped) - float(header["started"]) - warmup_s), 0.0)


def _both(
    first: Callable[[dict[str, Any]], None] | None, second: Callable[[dict[str, Any]], None] | None
) -> Callable[[dict[str, Any]], None] | None:
    if first is None or second is None:
        return first or second
    a, b = first, second

    def both(event: dict[str, Any]) -> None:
        a(event)
        b(event)

    return both


def _stopper(settings: LoadSettings, live: Path, stop: Path) -> Callable[[dict[str, Any]], None]:
    """A progress listener that asks `settings.certain` every CHECK_EVERY_S past the floor, and stops the load."""
    floor = min(LOAD_FLOOR_S, settings.duration_s)
    asked = [0.0]

    def on_progress(event: dict[str, Any]) -> None:
        measured = float(event["elapsed"]) - settings.warmup_s
        if stop.exists() or measured < floor or measured - asked[0] < CHECK_EVERY_S or settings.certain is None:
            return
        asked[0] = measured
        try:
            header, samples = read_samples(live)
            begin = float(header["started"]) + settings.warmup_s
        except (OSError, LoadError, ValueError, TypeError, KeyError):
            return  # nothing readable yet: the load goes on
        if settings.certain(measured, [x for x in samples if x.start >= begin]):
            stop.touch()

    return on_progress


def _follow(proc: subprocess.Popen[str], progress: Callable[[dict[str, Any]], None] | None) -> str | None:
    """Pass the generator's progress lines on; its fatal message, if it sent one."""
    assert proc.stdout is not None
    fatal = None
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        fatal = event.get("fatal", fatal)
        if progress is not None and "elapsed" in event:
            progress(event)
    return fatal


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


#: How long nothing may listen at the endpoint before validate gives up: a restarting server's
#: blip, not TGI loading weights (that answers 503, or times out, and is waited for).
REFUSED_GRACE_S = 3.0
#: How often a waiting validate says what it waits for.
READY_REPORT_EVERY_S = 5.0
#: The endpoint is quantop's own Service, not a user's URL: its ClusterIP may sit in a range the
#: operator denies to dataset URLs (fetch.deniedNetworks), so only the always-denied networks apply.
HEALTH_LIMITS = FetchLimits(deadline_s=5.0, max_bytes=64 * 1024, redirect_hosts=frozenset(), denied_networks=())


@dataclass(frozen=True)
class Health:
    """One look at /health: "ready", "refused" (nothing listens, no such host) or "starting" (anything else)."""

    state: str
    detail: str


def look(endpoint: str) -> Health:
    url = f"{endpoint.rstrip('/')}/health"
    try:
        answer = fetch_sync(url, HEALTH_LIMITS)
    except FetchError as exc:
        detail = str(exc).removeprefix(f"{url}: ")
        return Health("refused" if exc.kind in ("connect", "url") else "starting", detail)
    if answer.status == 200:
        return Health("ready", "200")
    return Health("starting", f"/health answered {answer.status}")


def ready_decision(health: Health, refused_for_s: float, elapsed_s: float, timeout_s: float) -> str:
    """Pure: "ready", "wait" or "fail" after one look at /health."""
    if health.state == "ready":
        return "ready"
    if health.state == "refused" and refused_for_s >= REFUSED_GRACE_S:
        return "fail"
    return "fail" if elapsed_s >= timeout_s else "wait"


def _say(message: str) -> None:
    print(f"quantop validate: {message}", file=sys.stderr, flush=True)


def wait_until_ready(
    endpoint: str,
    timeout_s: float = 30.0,
    *,
    say: Callable[[str], None] = _say,
    observe: Callable[[str], Health] = look,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait for /health to answer 200: fail fast (LoadError, exit 2) when nothing listens at the
    address; wait up to `timeout_s` for a server that answers but is not ready, saying so every few seconds."""
    start = clock()
    refused_since: float | None = None
    said = start
    while True:
        health, now = observe(endpoint), clock()
        refused_since = (refused_since or now) if health.state == "refused" else None
        decision = ready_decision(health, now - (refused_since or now), now - start, timeout_s)
        if decision == "ready":
            return
        if decision == "fail":
            raise LoadError(_not_ready(endpoint, health, now - start))
        if now - said >= READY_REPORT_EVERY_S:
            said = now
            say(f"waiting for {endpoint}/health ({health.detail}); {now - start:.0f} s of {timeout_s:.0f} s")
        sleep(0.5)


def _not_ready(endpoint: str, health: Health, waited_s: float) -> str:
    if health.state == "refused":
        return (
            f"nothing answers at {endpoint} ({health.detail}); check --endpoint, and that TGI has loaded "
            "the model (its port opens only then)"
        )
    return f"{endpoint} is not ready after {waited_s:.0f} s ({health.detail}); check the URL and that TGI is up"
