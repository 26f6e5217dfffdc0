"""quantop's Prometheus recording and alerting rules, as data: the single source of rules.yaml.

`python -m quantop.monitoring.rules --out PATH` writes the rule file that promtool checks, the
chart ships (charts/quantop/files/rules.yaml) and the tests run. Recording rules follow
`level:metric:operations`, normalise every serving engine (TGI's tgi_*, vLLM's vllm:*) into the same
quantop:* series labelled `engine`, and keep the labels the PodMonitor adds (namespace, model,
quantization, revision, role), so one dashboard compares quantization methods, revisions and engines.

Alerts read the operator's series (quantop_*) with their `namespace` label meaning the model's
namespace: the operator's ServiceMonitor must scrape with `honorLabels: true`, otherwise
Prometheus renames it to `exported_namespace` and every join on (namespace, model) is empty.
Operator series are aggregated with `max by (namespace, model)` before a join, so a second
operator replica (or a restarted one) never turns a join into a many-to-many error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import yaml

from quantop.api.guard import LONG_WINDOW, SHORT_WINDOW, WINDOWS

from . import names as n

RUNBOOK_URL = "https://github.com/quantop/quantop/blob/main/docs/runbooks.md"

#: The labels every recorded series keeps: one series per model, method, revision and role. Each
#: recording rule adds `engine` (tgi | vllm) as a constant, see EngineSeries.
BY = "namespace, model, quantization, revision, role"

# Recording rules: names are public (dashboards, alerts and the guard read only these), values in
# seconds, ratios, per second. Both engines record the same names, told apart by `engine`.
P50 = "quantop:request_duration_seconds:p50_5m"
P95 = "quantop:request_duration_seconds:p95_5m"
P99 = "quantop:request_duration_seconds:p99_5m"
TTFT_P50 = "quantop:time_to_first_token_seconds:p50_5m"
TTFT_P95 = "quantop:time_to_first_token_seconds:p95_5m"
TPOT_P50 = "quantop:time_per_output_token_seconds:p50_5m"
TPOT_P95 = "quantop:time_per_output_token_seconds:p95_5m"
QUEUE_P95 = "quantop:request_queue_duration_seconds:p95_5m"
RPS = "quantop:requests:rate5m"
ERROR_RATIO = "quantop:request_errors:ratio_rate5m"
ERRORS_BY_KIND = "quantop:request_errors:rate5m"  # + kind: TGI's err, or vLLM's http_4xx | http_5xx
TOKENS = "quantop:generated_tokens:rate5m"
QUEUE = "quantop:queue_size:max"
RUNNING = "quantop:running_requests:max"
KV_CACHE = "quantop:kv_cache_usage:max"
PRESENT = "quantop:engine_metrics:present"

# The production guard's windows (api/guard.py): request rates per latency bucket, so the guard can
# count requests slower than each model's own SLO, and request and error rates over both windows.
LATENCY_BUCKETS = {w: f"quantop:request_duration_seconds_bucket:rate{w}" for w in WINDOWS}
RPS_BY_WINDOW = {SHORT_WINDOW: RPS, LONG_WINDOW: f"quantop:requests:rate{LONG_WINDOW}"}
ERROR_RATIO_BY_WINDOW = {SHORT_WINDOW: ERROR_RATIO, LONG_WINDOW: f"quantop:request_errors:ratio_rate{LONG_WINDOW}"}

ALERT_GROUP = "quantop.alerts"


@dataclass(frozen=True)
class EngineSeries:
    """Where one engine keeps each figure the quantop:* series normalise: PromQL selectors, None if absent.

    The `engine` label is a constant of the engine's rule group, not a pod label: the metric family
    (tgi_* or vllm:*) already says which engine exported it, TGI pods carry no engine label (adding
    one would restart every TGI pod), and vLLM's own series carry `engine` as the engine core's
    index ("0"), which the aggregation drops.
    """

    engine: str
    request_duration: str  # histogram (base name), end to end, seconds
    ttft: str | None  # histogram, time to first token
    time_per_token: str  # histogram, each request's mean time per output token
    queue_duration: str  # histogram, time waiting before a batch takes the request
    requests: str  # counter of every answered generation request, failures included
    failures: str  # counter of the failed ones; may have no series until the first failure
    failure_kind: tuple[str, str]  # (label of `failures` saying why, its value as the `kind` label)
    generated_tokens: str  # counter of output tokens
    queue_size: str  # gauge, requests waiting
    running: str  # gauge, requests in the running batch
    kv_cache: str | None  # gauge 0..1
    present: str  # series a scraped pod exports from its start, with or without traffic

    @property
    def group(self) -> str:
        return f"quantop.{self.engine}.recording"


# TGI (router/src/server.rs; /work/shared/notes/tgi.md). No time-to-first-token histogram and no
# KV-cache usage: tgi_batch_current_max_tokens / tgi_batch_max_total_tokens is the share of token
# slots the batch has reserved for its worst case, not blocks in use, so it is not recorded as one.
TGI = EngineSeries(
    engine="tgi",
    request_duration=n.TGI_REQUEST_DURATION,
    ttft=None,
    time_per_token=n.TGI_TIME_PER_TOKEN,
    queue_duration=n.TGI_QUEUE_DURATION,
    requests=n.TGI_REQUEST_COUNT,
    failures=n.TGI_REQUEST_FAILURE,
    failure_kind=("err", "$1"),
    generated_tokens=n.TGI_GENERATED_TOKENS + "_sum",
    queue_size=n.TGI_QUEUE_SIZE,
    running=n.TGI_BATCH_SIZE,
    kv_cache=None,
    present=f"{n.TGI_MAX_BATCH_TOTAL_TOKENS} or {n.TGI_REQUEST_COUNT}",
)

# vLLM (vllm/v1/metrics/loggers.py, PrometheusStatLogger): it counts finished requests only, so
# requests and failures come from the OpenAI server's prometheus-fastapi-instrumentator counter of
# the two generation routes, where a 4xx (a prompt beyond --max-model-len, an unknown model) is a
# failure as TGI's `validation` failures are. Status codes are grouped (2xx, 4xx, 5xx) there. The
# name is common to many web apps: revision!="" keeps only pods quantop's PodMonitor relabeled.
_VLLM_ROUTES = f'handler=~"{n.VLLM_GENERATION_HANDLERS}", revision!=""'
VLLM = EngineSeries(
    engine="vllm",
    request_duration=n.VLLM_E2E_LATENCY,
    ttft=n.VLLM_TTFT,
    time_per_token=n.VLLM_TIME_PER_OUTPUT_TOKEN,
    queue_duration=n.VLLM_QUEUE_TIME,
    requests=f"{n.VLLM_HTTP_REQUESTS}{{{_VLLM_ROUTES}}}",
    failures=f'{n.VLLM_HTTP_REQUESTS}{{{_VLLM_ROUTES}, status=~"4xx|5xx"}}',
    failure_kind=("status", "http_$1"),
    generated_tokens=n.VLLM_GENERATION_TOKENS,
    queue_size=n.VLLM_WAITING,
    running=n.VLLM_RUNNING,
    kv_cache=n.VLLM_KV_CACHE_USAGE,
    present=n.VLLM_RUNNING,
)

ENGINES = (TGI, VLLM)


@dataclass(frozen=True)
class RuleParams:
    """What differs between Prometheus setups; the defaults fit the chart and quantop's PodMonitor."""

    # The Prometheus Operator names a PodMonitor's job "<namespace>/<podmonitor>", and quantop's
    # PodMonitor is "<model>-tgi" for every engine (one PodMonitor scrapes all revisions of a model,
    # a TGI stable beside a vLLM candidate included). Plain scrape configs pick their own job.
    tgi_job: str = ".+/.+-tgi"
    # The chart's ServiceMonitor job is the metrics Service's name, "<release>-quantop-metrics".
    # Serving jobs are excluded by tgi_job, so a models namespace called "quantop" does not match.
    operator_job: str = ".*quantop.*"
    # Long enough for download, load, warm-up, the default 5 minute load test and the accuracy set.
    rollout_deadline_seconds: int = 1800
    # Half TGI's default --max-concurrent-requests (128): beyond that limit TGI answers 429. vLLM
    # queues without limit beyond --max-num-seqs; 64 waiting for 10 minutes is saturation there too.
    queue_saturation: int = 64
    # The spec's own default (slo.maxErrorRate 0.01), used when quantop_slo_max_error_ratio is absent.
    default_max_error_ratio: float = 0.01
    # Below ~6 requests a minute one failed request is a large ratio: not worth a page.
    error_ratio_min_rps: float = 0.1
    # The probe scores 20 examples a run by default: wait for a few runs before judging accuracy.
    accuracy_min_samples: int = 50


def _expr(text: str, **subs: object) -> str:
    """PromQL with ${name} placeholders; Template leaves PromQL's own braces alone."""
    return Template(textwrap.dedent(text).strip()).substitute(BY=BY, **subs)


def _slo(metric: str, humanize: str, default: str = "") -> str:
    """A template fragment printing a model's threshold, read from Prometheus when the alert fires."""
    query = "{{ with printf `max(" + metric + "{namespace=%q,model=%q})` $labels.namespace $labels.model | query }}"
    fallback = "{{ else }}" + default if default else ""
    return query + "{{ . | first | value | " + humanize + " }}" + fallback + "{{ end }}"


THREE_DECIMALS = 'printf "%.3f"'
MODEL = "{{ $labels.namespace }}/{{ $labels.model }}"
REVISION = "revision {{ $labels.revision }}, {{ $labels.quantization }}"


def _bucket(histogram: str) -> str:
    """A histogram's bucket series; a selector's matchers stay on it (`h{a="b"}` -> `h_bucket{a="b"}`)."""
    name, brace, matchers = histogram.partition("{")
    return f"{name}_bucket{brace}{matchers}"


def _histogram_quantile(q: str, histogram: str) -> str:
    return _expr("histogram_quantile(${q}, sum by (le, ${BY}) (rate(${b}[5m])))", q=q, b=_bucket(histogram))


def _record(name: str, expr: str, engine: EngineSeries) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": {"engine": engine.engine}}


def recording_rules(e: EngineSeries = TGI) -> list[dict[str, Any]]:
    """One engine's rules: the same quantop:* names for every engine, `engine` set to its name."""
    quantiles = [
        (P50, "0.5", e.request_duration),
        (P95, "0.95", e.request_duration),
        (P99, "0.99", e.request_duration),
        *([(TTFT_P50, "0.5", e.ttft), (TTFT_P95, "0.95", e.ttft)] if e.ttft else []),
        (TPOT_P50, "0.5", e.time_per_token),
        (TPOT_P95, "0.95", e.time_per_token),
        (QUEUE_P95, "0.95", e.queue_duration),
    ]
    gauges = [(QUEUE, e.queue_size), (RUNNING, e.running), *([(KV_CACHE, e.kv_cache)] if e.kv_cache else [])]
    rules = [
        *(_record(name, _histogram_quantile(q, h), e) for name, q, h in quantiles),
        *(_rps(w, e) for w in WINDOWS),
        *(_error_ratio(w, e) for w in WINDOWS),
        _errors_by_kind(e),
        _record(TOKENS, _expr("sum by (${BY}) (rate(${m}[5m]))", m=e.generated_tokens), e),
        *(_record(name, _expr("max by (${BY}) (${m})", m=m), e) for name, m in gauges),
        _record(PRESENT, _expr("group by (${BY}) (${m})", m=e.present), e),
        *(
            _record(
                LATENCY_BUCKETS[w],
                _expr("sum by (le, ${BY}) (rate(${b}[${w}]))", b=_bucket(e.request_duration), w=w),
                e,
            )
            for w in WINDOWS
        ),
    ]
    return rules


def _rps(window: str, e: EngineSeries) -> dict[str, Any]:
    return _record(RPS_BY_WINDOW[window], _expr("sum by (${BY}) (rate(${c}[${w}]))", c=e.requests, w=window), e)


def _errors_by_kind(e: EngineSeries) -> dict[str, Any]:
    source, kind = e.failure_kind
    expr = _expr(
        'sum by (${BY}, kind) (label_replace(rate(${f}[5m]), "kind", "${kind}", "${source}", "(.+)"))',
        f=e.failures,
        kind=kind,
        source=source,
    )
    return _record(ERRORS_BY_KIND, expr, e)


def _error_ratio(window: str, e: EngineSeries) -> dict[str, Any]:
    # A pod that never failed may have no failure series: its ratio is 0, not absent.
    return _record(
        ERROR_RATIO_BY_WINDOW[window],
        _expr(
            """
            (
              sum by (${BY}) (rate(${failure}[${w}]))
              or
              0 * sum by (${BY}) (rate(${count}[${w}]))
            )
            /
            sum by (${BY}) (rate(${count}[${w}]))
            """,
            failure=e.failures,
            count=e.requests,
            w=window,
        ),
        e,
    )


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOK_URL}#{name.lower()}",
        },
    }


def _latency_alert(name: str, record: str, slo: str, label: str) -> dict[str, Any]:
    # Only the stable role: a candidate under the validation's load test is meant to be pushed hard.
    return _alert(
        name,
        _expr(
            """
            ${record}{role="stable"}
              > on (namespace, model) group_left ()
            max by (namespace, model) (${slo})
            """,
            record=record,
            slo=slo,
        ),
        "10m",
        "warning",
        f"{MODEL}: {label} latency above its SLO",
        f"{label} latency of {MODEL} (stable {REVISION}) is {{{{ $value | humanizeDuration }}}} over 5 minutes, "
        f"above the model's SLO of {_slo(slo, 'humanizeDuration')}, for 10 minutes.",
    )


def alerting_rules(p: RuleParams) -> list[dict[str, Any]]:
    up_tgi = f'up{{job=~"{p.tgi_job}", role="stable"}}'
    return [
        _latency_alert("QuantopLatencyAboveSLO", P95, n.SLO_P95, "p95"),
        _latency_alert("QuantopLatencyP99AboveSLO", P99, n.SLO_P99, "p99"),
        # Only engines that export time to first token (vLLM); for TGI the validation measures it.
        _latency_alert("QuantopTTFTAboveSLO", TTFT_P95, n.SLO_TTFT_P95, "TTFT p95"),
        _alert(
            "QuantopErrorRatioHigh",
            _expr(
                """
                (
                  ${record}{role="stable"}
                    > on (namespace, model) group_left ()
                  (
                    max by (namespace, model) (${slo})
                    or on (namespace, model)
                    ${default} * group by (namespace, model) (${record}{role="stable"})
                  )
                )
                and
                (${rps}{role="stable"} > ${min_rps})
                """,
                record=ERROR_RATIO,
                slo=n.SLO_MAX_ERROR_RATIO,
                default=p.default_max_error_ratio,
                rps=RPS,
                min_rps=p.error_ratio_min_rps,
            ),
            "5m",
            "critical",
            f"{MODEL}: too many failed requests",
            f"{{{{ $value | humanizePercentage }}}} of requests to {MODEL} (stable {REVISION}) failed over "
            f"5 minutes, above the allowed {_slo(n.SLO_MAX_ERROR_RATIO, 'humanizePercentage', _pct(p))}.",
        ),
        _alert(
            "QuantopProductionAccuracyBelowBaseline",
            _expr(
                """
                (
                  max by (namespace, model, quantization, revision) (${acc})
                    < on (namespace, model) group_left ()
                  (
                    max by (namespace, model) (${baseline})
                    -
                    max by (namespace, model) (${drop})
                  )
                )
                and on (namespace, model, revision)
                (max by (namespace, model, revision) (${samples}) >= ${min_samples})
                """,
                acc=n.PRODUCTION_ACCURACY,
                baseline=n.ACCURACY_BASELINE,
                drop=n.ACCURACY_MAX_DROP,
                samples=n.PRODUCTION_ACCURACY_SAMPLES,
                min_samples=p.accuracy_min_samples,
            ),
            "30m",
            "warning",
            f"{MODEL}: production accuracy below baseline",
            f"The production probe scores {MODEL} (stable {REVISION}) at "
            '{{ $value | printf "%.3f" }}, below the baseline '
            f"{_slo(n.ACCURACY_BASELINE, THREE_DECIMALS)} minus the allowed drop "
            f"{_slo(n.ACCURACY_MAX_DROP, THREE_DECIMALS)}, for 30 minutes.",
        ),
        _alert(
            "QuantopQueueSaturated",
            _expr(
                'avg_over_time(${queue}{role="stable"}[5m]) > ${limit}',
                queue=QUEUE,
                limit=p.queue_saturation,
            ),
            "10m",
            "warning",
            f"{MODEL}: {{{{ $labels.engine }}}} request queue saturated",
            f"A {{{{ $labels.engine }}}} pod of {MODEL} (stable {REVISION}) has had {{{{ $value | humanize }}}} requests waiting on "
            f"average over 5 minutes (more than {p.queue_saturation}), for 10 minutes.",
        ),
        _alert(
            "QuantopValidationFailed",
            # round(): increase() extrapolates, and "1.025 failed validations" reads as a bug.
            _expr(
                """
                (
                  1 - max by (namespace, model, quantization, revision) (${passed}{role="candidate"})
                ) > 0
                or on (namespace, model)
                round(sum by (namespace, model) (increase(${failed}[1h]))) > 0
                """,
                passed=n.VALIDATION_PASSED,
                failed=n.VALIDATIONS_FAILED,
            ),
            "1m",
            "warning",
            f"{MODEL}: candidate failed validation",
            f"{{{{ $value | humanize }}}} failed validation(s) of {MODEL}"
            "{{ if $labels.revision }} (candidate revision {{ $labels.revision }}, "
            "{{ $labels.quantization }}){{ end }}: the candidate is not promoted.",
        ),
        _alert(
            "QuantopRolloutStuck",
            # AwaitingPromotion waits for a person by design, Failed has QuantopValidationFailed.
            _expr(
                """
                (time() - max by (namespace, model, revision) (${started})) > ${deadline}
                unless on (namespace, model)
                (max by (namespace, model) (${phase}{phase=~"AwaitingPromotion|Failed"}) == 1)
                """,
                started=n.CANDIDATE_STARTED,
                deadline=p.rollout_deadline_seconds,
                phase=n.MODEL_PHASE,
            ),
            "5m",
            "warning",
            f"{MODEL}: rollout of revision {{{{ $labels.revision }}}} stuck",
            f"Candidate revision {{{{ $labels.revision }}}} of {MODEL} started {{{{ $value | humanizeDuration }}}} "
            f"ago and is neither promoted nor failed (deadline {p.rollout_deadline_seconds}s).",
        ),
        _alert(
            "QuantopStableRevisionNoReadyPods",
            # Only models with a stable revision: before the first promotion 0 ready replicas is normal.
            _expr(
                """
                (max by (namespace, model) (${ready}) == 0)
                and on (namespace, model)
                ${info}{stable_revision!=""}
                """,
                ready=n.STABLE_READY_REPLICAS,
                info=n.MODEL_INFO,
            ),
            "5m",
            "critical",
            f"{MODEL}: stable revision has no ready pods",
            f"The stable revision of {MODEL} has {{{{ $value }}}} ready replicas: requests to the model's "
            "Service fail.",
        ),
        _alert(
            "QuantopEngineTargetDown",
            # Only stable pods: a candidate's port opens only after download and load, which takes minutes.
            f"{up_tgi} == 0",
            "10m",
            "warning",
            f"{MODEL}: serving pod {{{{ $labels.pod }}}} cannot be scraped",
            f"Prometheus has failed to scrape /metrics of serving pod {{{{ $labels.pod }}}} of {MODEL} (stable "
            f"{REVISION}) for 10 minutes (up = {{{{ $value }}}}).",
        ),
        _alert(
            "QuantopEngineNoData",
            # absent() cannot say which model is missing; `unless` against the promoted models can.
            # A target that is down has QuantopEngineTargetDown instead.
            _expr(
                """
                (max by (namespace, model) (${phase}{phase="Promoted"}) == 1)
                unless on (namespace, model)
                (
                  group by (namespace, model) (${present}{role="stable"})
                  or
                  group by (namespace, model) (${up} == 0)
                )
                """,
                phase=n.MODEL_PHASE,
                present=PRESENT,
                up=up_tgi,
            ),
            "15m",
            "warning",
            f"{MODEL}: no engine metrics from the stable revision",
            f"{MODEL} is Promoted (phase gauge {{{{ $value }}}}) but Prometheus holds no tgi_* or vllm:* series "
            'with role="stable" for it: its pods are not scraped or not relabeled.',
        ),
        _alert(
            "QuantopOperatorDown",
            f'(sum(up{{job=~"{p.operator_job}", job!~"{p.tgi_job}"}}) or vector(0)) == 0',
            "10m",
            "critical",
            "quantop operator is down",
            "{{ $value }} quantop operator targets are up: no reconciles, rollouts or production probes "
            "run, and every quantop_* based alert is blind.",
        ),
        *guard_alerts(),
        *selection_alerts(),
    ]


def guard_alerts() -> list[dict[str, Any]]:
    """The production guard cannot judge, or it rolled a revision back."""
    return [
        _alert(
            "QuantopGuardCannotReadPrometheus",
            # Guarding is the normal state; NoData in the first minutes is normal too (rates need samples).
            _expr(
                'max by (namespace, model, revision, state) (${state}{state=~"Unreachable|NoData"}) == 1',
                state=n.GUARD_STATE,
            ),
            "10m",
            "warning",
            f"{MODEL}: the production guard cannot judge revision {{{{ $labels.revision }}}}",
            f"The guard of {MODEL} has been in state {{{{ $labels.state }}}} for 10 minutes (gauge {{{{ $value }}}}): "
            "it neither passes nor rolls back revision {{ $labels.revision }}, and the previous revision keeps "
            "its GPUs. `kubectl describe qm` shows the reason in the GuardPassed condition.",
        ),
        _alert(
            "QuantopGuardRolledBack",
            # round(): increase() extrapolates, and "1.02 rollbacks" reads as a bug.
            _expr(
                'round(sum by (namespace, model, reason) (increase(${rollbacks}{reason=~"Guard.+"}[1h]))) > 0',
                rollbacks=n.ROLLBACKS,
            ),
            "1m",
            "warning",
            f"{MODEL}: the production guard rolled back",
            f"The production guard rolled {MODEL} back {{{{ $value | humanize }}}} time(s) in the last hour on "
            "{{ $labels.reason }}: the promoted revision breached its SLO in production. The Event on the "
            "QuantizedModel names the signal and its value.",
        ),
    ]


def selection_alerts() -> list[dict[str, Any]]:
    """A `method: auto` selection that ended without a winner: nothing new is promoted until the spec changes."""
    return [
        _alert(
            "QuantopSelectionNoCandidatePassed",
            _expr('max by (namespace, model) (${phase}{phase="NoCandidatePassed"}) == 1', phase=n.SELECTION_PHASE),
            "1m",
            "warning",
            f"{MODEL}: its method: auto selection found no candidate that passes",
            f"The selection of {MODEL} ended with no candidate passing every gate (phase gauge {{{{ $value }}}}): "
            "nothing new was promoted and the stable revision, if any, keeps serving. status.selection lists "
            "each candidate's verdict, and its reason says what to relax or add.",
        ),
    ]


def _pct(p: RuleParams) -> str:
    return f"{p.default_max_error_ratio * 100:g}% (default)"


def rules(params: RuleParams | None = None) -> dict[str, Any]:
    """The rule file: one recording group per engine, then the alerts, which read only what they record."""
    p = params or RuleParams()
    return {
        "groups": [
            *({"name": e.group, "rules": recording_rules(e)} for e in ENGINES),
            {"name": ALERT_GROUP, "rules": alerting_rules(p)},
        ]
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line PromQL as block scalars and indented lists: a file people read in review."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _str)

HEADER = (
    "# Generated by `python -m quantop.monitoring.rules` (make generate) from operator/quantop/monitoring/rules.py.\n"
)


def rules_yaml(params: RuleParams | None = None) -> str:
    body = yaml.dump(rules(params), Dumper=_Dumper, sort_keys=False, width=1_000_000, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quantop.monitoring.rules", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--out", action="append", type=Path, default=[], help="write here (repeatable); stdout if none")
    for field in dataclasses.fields(RuleParams):
        default = field.default
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            type=type(default),
            default=default,
            help=f"default: {default}",
        )
    args = parser.parse_args(argv)
    params = RuleParams(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RuleParams)})
    text = rules_yaml(params)
    if not args.out:
        sys.stdout.write(text)
    for path in args.out:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
