"""quantop's Prometheus recording and alerting rules, as data: the single source of rules.yaml.

`python -m quantop.monitoring.rules --out PATH` writes the rule file that promtool checks, the
chart ships (charts/quantop/files/rules.yaml) and the tests run. Recording rules follow
`level:metric:operations` and keep the labels the TGI PodMonitor adds (namespace, model,
quantization, revision, role), so a dashboard can compare quantization methods and revisions.

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

#: The labels every recorded TGI series keeps: one series per model, method, revision and role.
BY = "namespace, model, quantization, revision, role"

# Recording rules: names are public (dashboards use them), values in seconds, ratios, per second.
P50 = "quantop:tgi_request_duration_seconds:p50_5m"
P95 = "quantop:tgi_request_duration_seconds:p95_5m"
P99 = "quantop:tgi_request_duration_seconds:p99_5m"
TPOT_P50 = "quantop:tgi_time_per_token_seconds:p50_5m"
TPOT_P95 = "quantop:tgi_time_per_token_seconds:p95_5m"
QUEUE_P95 = "quantop:tgi_request_queue_duration_seconds:p95_5m"
RPS = "quantop:tgi_requests:rate5m"
ERROR_RATIO = "quantop:tgi_request_errors:ratio_rate5m"
TOKENS = "quantop:tgi_generated_tokens:rate5m"
QUEUE = "quantop:tgi_queue_size:max"

# The production guard's windows (api/guard.py): request rates per latency bucket, so the guard can
# count requests slower than each model's own SLO, and request and error rates over both windows.
LATENCY_BUCKETS = {w: f"quantop:tgi_request_duration_seconds_bucket:rate{w}" for w in WINDOWS}
RPS_BY_WINDOW = {SHORT_WINDOW: RPS, LONG_WINDOW: f"quantop:tgi_requests:rate{LONG_WINDOW}"}
ERROR_RATIO_BY_WINDOW = {SHORT_WINDOW: ERROR_RATIO, LONG_WINDOW: f"quantop:tgi_request_errors:ratio_rate{LONG_WINDOW}"}

ALERT_GROUP = "quantop.alerts"
RECORD_GROUP = "quantop.tgi.recording"


@dataclass(frozen=True)
class RuleParams:
    """What differs between Prometheus setups; the defaults fit the chart and quantop's PodMonitor."""

    # The Prometheus Operator names a PodMonitor's job "<namespace>/<podmonitor>", and quantop's
    # PodMonitor is "<model>-tgi". Plain scrape configs (scrape.tgi_relabel_configs) pick their own job.
    tgi_job: str = ".+/.+-tgi"
    # The chart's ServiceMonitor job is the metrics Service's name, "<release>-quantop-metrics".
    # TGI jobs are excluded by tgi_job, so a models namespace called "quantop" does not match.
    operator_job: str = ".*quantop.*"
    # Long enough for download, load, warm-up, the default 5 minute load test and the accuracy set.
    rollout_deadline_seconds: int = 1800
    # Half TGI's default --max-concurrent-requests (128): beyond that limit TGI answers 429.
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


def _histogram_quantile(q: str, metric: str) -> str:
    return _expr(
        "histogram_quantile(${q}, sum by (le, ${BY}) (rate(${metric}_bucket[5m])))",
        q=q,
        metric=metric,
    )


def recording_rules() -> list[dict[str, Any]]:
    return [
        {"record": P50, "expr": _histogram_quantile("0.5", n.TGI_REQUEST_DURATION)},
        {"record": P95, "expr": _histogram_quantile("0.95", n.TGI_REQUEST_DURATION)},
        {"record": P99, "expr": _histogram_quantile("0.99", n.TGI_REQUEST_DURATION)},
        {"record": TPOT_P50, "expr": _histogram_quantile("0.5", n.TGI_TIME_PER_TOKEN)},
        {"record": TPOT_P95, "expr": _histogram_quantile("0.95", n.TGI_TIME_PER_TOKEN)},
        {"record": QUEUE_P95, "expr": _histogram_quantile("0.95", n.TGI_QUEUE_DURATION)},
        *(_rps(w) for w in WINDOWS),
        *(_error_ratio(w) for w in WINDOWS),
        {"record": TOKENS, "expr": _expr("sum by (${BY}) (rate(${m}_sum[5m]))", m=n.TGI_GENERATED_TOKENS)},
        {"record": QUEUE, "expr": _expr("max by (${BY}) (${m})", m=n.TGI_QUEUE_SIZE)},
        *(
            {
                "record": LATENCY_BUCKETS[w],
                "expr": _expr("sum by (le, ${BY}) (rate(${m}_bucket[${w}]))", m=n.TGI_REQUEST_DURATION, w=w),
            }
            for w in WINDOWS
        ),
    ]


def _rps(window: str) -> dict[str, Any]:
    return {
        "record": RPS_BY_WINDOW[window],
        "expr": _expr("sum by (${BY}) (rate(${c}[${w}]))", c=n.TGI_REQUEST_COUNT, w=window),
    }


def _error_ratio(window: str) -> dict[str, Any]:
    # A pod that never failed has no tgi_request_failure series: its ratio is 0, not absent.
    return {
        "record": ERROR_RATIO_BY_WINDOW[window],
        "expr": _expr(
            """
            (
              sum by (${BY}) (rate(${failure}[${w}]))
              or
              0 * sum by (${BY}) (rate(${count}[${w}]))
            )
            /
            sum by (${BY}) (rate(${count}[${w}]))
            """,
            failure=n.TGI_REQUEST_FAILURE,
            count=n.TGI_REQUEST_COUNT,
            w=window,
        ),
    }


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
            f"{MODEL}: TGI request queue saturated",
            f"A TGI pod of {MODEL} (stable {REVISION}) has had {{{{ $value | humanize }}}} requests waiting on "
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
            "QuantopTGITargetDown",
            # Only stable pods: a candidate's port opens only after download and load, which takes minutes.
            f"{up_tgi} == 0",
            "10m",
            "warning",
            f"{MODEL}: TGI pod {{{{ $labels.pod }}}} cannot be scraped",
            f"Prometheus has failed to scrape /metrics of TGI pod {{{{ $labels.pod }}}} of {MODEL} (stable "
            f"{REVISION}) for 10 minutes (up = {{{{ $value }}}}).",
        ),
        _alert(
            "QuantopTGINoData",
            # absent() cannot say which model is missing; `unless` against the promoted models can.
            # A target that is down has QuantopTGITargetDown instead.
            _expr(
                """
                (max by (namespace, model) (${phase}{phase="Promoted"}) == 1)
                unless on (namespace, model)
                (
                  group by (namespace, model) (${max_tokens}{role="stable"})
                  or
                  group by (namespace, model) (${count}{role="stable"})
                  or
                  group by (namespace, model) (${up} == 0)
                )
                """,
                phase=n.MODEL_PHASE,
                max_tokens=n.TGI_MAX_BATCH_TOTAL_TOKENS,
                count=n.TGI_REQUEST_COUNT,
                up=up_tgi,
            ),
            "15m",
            "warning",
            f"{MODEL}: no TGI metrics from the stable revision",
            f"{MODEL} is Promoted (phase gauge {{{{ $value }}}}) but Prometheus holds no tgi_* series with "
            'role="stable" for it: its pods are not scraped or not relabeled.',
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


def _pct(p: RuleParams) -> str:
    return f"{p.default_max_error_ratio * 100:g}% (default)"


def rules(params: RuleParams | None = None) -> dict[str, Any]:
    """The rule file: recording rules first, so the alerts read this evaluation's recorded series."""
    p = params or RuleParams()
    return {
        "groups": [
            {"name": RECORD_GROUP, "rules": recording_rules()},
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
