"""Reads one revision's guard signals from Prometheus: the chart's recording rules, nothing else.

The guard judges what the dashboards and alerts read (monitoring/rules.py): request-duration
bucket rates, request rates and error ratios over the guard's two windows, restricted to
role="stable" so that the validation load test on the same revision (role="candidate") never
counts, and the production accuracy probe's gauges for the revision.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from quantop.api.durations import parse_duration
from quantop.api.guard import LONG_WINDOW, WINDOWS

from .. import names as n
from ..rules import ERROR_RATIO_BY_WINDOW, LATENCY_BUCKETS, RPS_BY_WINDOW
from .burn import count_at_most, quantile, total
from .judge import Counts, GuardPolicy, Missing, Observation, Reading
from .prometheus import Answer, PrometheusClient, Unreachable, Vector


@dataclass(frozen=True)
class Target:
    namespace: str
    model: str
    revision: str

    def selector(self, *, stable: bool = True) -> str:
        def q(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        role = ', role="stable"' if stable else ""
        return f"{{namespace={q(self.namespace)}, model={q(self.model)}, revision={q(self.revision)}{role}}}"


def _missing(answer: Answer, what: str) -> Missing:
    if isinstance(answer, Unreachable):
        return Missing(f"Prometheus unreachable ({answer.why})", unreachable=True)
    return Missing(f"no {what} for this revision yet")


def _sum(answer: Vector) -> float:
    return sum(s.value for s in answer.samples)


def latency_reading(answers: dict[str, Answer], slo_s: float) -> Reading:
    """Counts of requests slower than the SLO per window, from the bucket rates."""
    counts: dict[str, Counts] = {}
    for window, answer in answers.items():
        if not isinstance(answer, Vector):
            if window == LONG_WINDOW or isinstance(answer, Unreachable):
                return _missing(answer, "request latency")
            continue
        buckets = [(float(s.labels.get("le", "nan")), s.value) for s in answer.samples]
        buckets = [(le, rate) for le, rate in buckets if not math.isnan(le)]
        seconds = parse_duration(window)
        n_all = total(buckets) * seconds
        if n_all > 0:
            slow = n_all - count_at_most(buckets, slo_s) * seconds
            counts[window] = Counts(bad=max(slow, 0.0), total=n_all, value=quantile(buckets, 0.95))
    return counts if LONG_WINDOW in counts else Missing("no requests to this revision yet")


def error_reading(rps: dict[str, Answer], ratio: dict[str, Answer]) -> Reading:
    """Failed and all requests per window, from the request-rate and error-ratio rules."""
    counts: dict[str, Counts] = {}
    for window in WINDOWS:
        r, e = rps[window], ratio[window]
        if not (isinstance(r, Vector) and isinstance(e, Vector)):
            bad = r if not isinstance(r, Vector) else e
            if window == LONG_WINDOW or isinstance(bad, Unreachable):
                return _missing(bad, "request or error rate")
            continue
        n_all = _sum(r) * parse_duration(window)
        share = max(s.value for s in e.samples)
        if n_all > 0:
            counts[window] = Counts(bad=share * n_all, total=n_all, value=share)
    return counts if LONG_WINDOW in counts else Missing("no requests to this revision yet")


def accuracy_reading(accuracy: Answer, samples: Answer) -> Counts | Missing:
    if not isinstance(accuracy, Vector) or not isinstance(samples, Vector):
        return _missing(accuracy if not isinstance(accuracy, Vector) else samples, "production probe result")
    value = max(s.value for s in accuracy.samples)
    n_all = max(s.value for s in samples.samples)
    if not (0 <= value <= 1 and 0 < n_all < math.inf):
        return Missing(f"no usable production probe result (accuracy {value:g} of {n_all:g} examples)")
    return Counts(bad=(1 - value) * n_all, total=n_all, value=value)


async def observe(client: PrometheusClient, target: Target, policy: GuardPolicy) -> Observation:
    """One read of everything the policy judges; queries run concurrently, each under the client's deadline."""
    sel, probe_sel = target.selector(), target.selector(stable=False)
    queries = {
        **{("rps", w): f"sum({RPS_BY_WINDOW[w]}{sel})" for w in WINDOWS},
        **{("err", w): f"{ERROR_RATIO_BY_WINDOW[w]}{sel}" for w in WINDOWS},
    }
    if policy.p95_slo_s is not None:
        queries |= {("lat", w): f"sum by (le) ({LATENCY_BUCKETS[w]}{sel})" for w in WINDOWS}
    if policy.accuracy_floor is not None:
        queries[("acc", "")] = f"max({n.PRODUCTION_ACCURACY}{probe_sel})"
        queries[("acc_n", "")] = f"max({n.PRODUCTION_ACCURACY_SAMPLES}{probe_sel})"
    keys = list(queries)
    answers = dict(zip(keys, await asyncio.gather(*(client.query(queries[k]) for k in keys)), strict=True))

    def by_window(kind: str) -> dict[str, Answer]:
        return {w: answers[(kind, w)] for w in WINDOWS}

    return Observation(
        latency=None if policy.p95_slo_s is None else latency_reading(by_window("lat"), policy.p95_slo_s),
        errors=error_reading(by_window("rps"), by_window("err")),
        accuracy=None
        if policy.accuracy_floor is None
        else accuracy_reading(answers[("acc", "")], answers[("acc_n", "")]),
    )
