"""quantop's Grafana dashboards, built with grafana-foundation-sdk and committed as JSON under `dashboards/`.

Three dashboards: an overview of every QuantizedModel, one model in detail, and the guide's
quantization comparison. Serving panels read only the quantop:* recording rules (rules.py), which
normalise TGI's and vLLM's metrics into the same series labelled `engine`, so one dashboard serves
both engines and a TGI → vLLM migration shows both revisions side by side. Operator panels read the
quantop_* series (names.py). TGI exports no time-to-first-token histogram and no KV-cache usage:
those panels show vLLM revisions live and every revision's validated TTFT.

    PYTHONPATH=tools python -m quantop_build.dashboards --out-dir dashboards
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries, xychart
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models import prometheus as prom_m
from grafana_foundation_sdk.models import xychart as xychart_m

from quantop.api import Phase
from quantop.monitoring import names as n
from quantop.monitoring import rules as r

TAG = "quantop"
DATASOURCE = dash_m.DataSourceRef(type_val="prometheus", uid="${datasource}")
FILTER = 'namespace=~"$namespace", model=~"$model"'
STABLE = 'role="stable"'

P = TypeVar("P")

# Filenames double as the ConfigMap keys the chart ships: keep them stable.
OVERVIEW_FILE = "quantop-overview.json"
MODEL_FILE = "quantop-model.json"
COMPARISON_FILE = "quantop-quantization-comparison.json"

SECONDS = "s"
REQPS = "reqps"
RATIO = "percentunit"
USD = "currencyUSD"
TOKENS_PER_SECOND = "suffix: tok/s"


# --- PromQL helpers ------------------------------------------------------------------------------
def _sel(metric: str, *matchers: str) -> str:
    return "{}{{{}}}".format(metric, ", ".join([FILTER, *matchers]))


def _recorded(record: str, by: str, *matchers: str, agg: str = "max") -> str:
    """A recorded quantop:* series aggregated over revisions. Percentiles do not add up: `max` is the
    slowest revision's, exact for the usual one revision per role."""
    return f"{agg} by ({by}) ({_sel(record, *matchers)})"


def _error_ratio(by: str, *matchers: str) -> str:
    # Weighted by traffic, so a second revision in the same role counts as much as it serves.
    # The recorded ratio is 0, not absent, for a pod that never failed.
    failures = f"sum by ({by}) ({_sel(r.ERROR_RATIO, *matchers)} * {_sel(r.RPS, *matchers)})"
    return f"{failures} / sum by ({by}) ({_sel(r.RPS, *matchers)})"


def _gauge(metric: str, by: str, *matchers: str) -> str:
    # Aggregating drops the scrape's target labels (instance, pod, job); max, not sum, so that several
    # operator replicas exporting the same value never double it.
    return f"max by ({by}) ({_sel(metric, *matchers)})"


# --- builders ------------------------------------------------------------------------------------
def _query(expr: str, legend: str = "__auto", *, instant: bool = False, table_format: bool = False) -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).legend_format(legend).datasource(DATASOURCE)
    if instant:
        q = q.instant()
    if table_format:
        q = q.format(prom_m.PromQueryFormat.TABLE)
    return q


def _targets(panel: P, queries: Sequence[prom.Dataquery]) -> P:
    for ref, q in zip(_ref_ids(), queries, strict=False):
        panel.with_target(q.ref_id(ref))  # type: ignore[attr-defined]
    return panel


def _ref_ids() -> Iterator[str]:
    return (chr(ord("A") + i) for i in range(26))


def _thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(dash_m.ThresholdsMode.ABSOLUTE)
        .steps([dash_m.Threshold(value=v, color=c) for v, c in steps])
    )


def _prop(prop_id: str, value: object) -> dash_m.DynamicConfigValue:
    return dash_m.DynamicConfigValue(id_val=prop_id, value=value)


# SLO series are drawn dashed red, so a line crossing one reads as a breach at a glance.
SLO_STYLE = [
    _prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
    _prop("color", {"mode": "fixed", "fixedColor": "red"}),
    _prop("custom.fillOpacity", 0),
    _prop("custom.lineWidth", 2),
]
PASSED_MAPPING = dash_m.ValueMap(
    options={
        "0": dash_m.ValueMappingResult(text="Failed", color="red", index=0),
        "1": dash_m.ValueMappingResult(text="Passed", color="green", index=1),
    }
)
# Every phase the API knows gets an entry, so a new phase cannot show as an uncoloured raw label.
PHASE_COLORS = {"Queued": "light-blue", "Deploying": "blue", "Validating": "purple", "AwaitingPromotion": "yellow"}
PHASE_COLORS |= {"Promoted": "green", "Degraded": "orange", "Failed": "red"}
PHASE_MAPPING = dash_m.ValueMap(
    options={
        phase.value: dash_m.ValueMappingResult(text=phase.value, color=PHASE_COLORS.get(phase.value, "text"), index=i)
        for i, phase in enumerate(Phase)
    }
)


def _legend() -> common_b.VizLegendOptions:
    return (
        common_b.VizLegendOptions()
        .display_mode(common_m.LegendDisplayMode.TABLE)
        .placement(common_m.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["mean", "max", "lastNotNull"])
    )


def _timeseries(
    title: str, description: str, unit: str, queries: Sequence[prom.Dataquery], *, span: int = 12, height: int = 8
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(span)
        .height(height)
        .fill_opacity(10)
        .line_width(1)
        .show_points(common_m.VisibilityMode.NEVER)
        .legend(_legend())
        .tooltip(
            common_b.VizTooltipOptions().mode(common_m.TooltipDisplayMode.MULTI).sort(common_m.SortOrder.DESCENDING)
        )
        .override_by_regexp(".*SLO.*|.*floor.*", SLO_STYLE)
    )
    return _targets(panel, queries)


def _stat(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[prom.Dataquery],
    *,
    span: int = 4,
    text_mode: common_m.BigValueTextMode = common_m.BigValueTextMode.AUTO,
    thresholds: dash.ThresholdsConfig | None = None,
    mappings: list[dash_m.ValueMapping] | None = None,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(span)
        .height(4)
        .text_mode(text_mode)
        .graph_mode(common_m.BigValueGraphMode.NONE)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds or _thresholds((None, "green")))
        .color_mode(common_m.BigValueColorMode.VALUE if thresholds else common_m.BigValueColorMode.NONE)
    )
    if mappings:
        panel = panel.mappings(mappings)
    return _targets(panel, queries)


def _instant(expr: str) -> prom.Dataquery:
    return _query(expr, instant=True, table_format=True)


def _table(
    title: str,
    description: str,
    queries: Sequence[prom.Dataquery],
    *,
    exclude: Sequence[str],
    columns: Sequence[tuple[str, str]],
    units: dict[str, str],
    sort_by: str,
    newest_first: bool = False,
    span: int = 24,
    height: int = 10,
) -> table.Panel:
    """A table from instant queries merged on their shared labels; `columns` orders and renames fields."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(span)
        .height(height)
        .filterable(True)
        .sort_by([common_b.TableSortByFieldState().display_name(sort_by).desc(newest_first)])
        .with_transformation(dash_m.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dash_m.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {name: True for name in ["Time", *exclude]},
                    "indexByName": {field: i for i, (field, _) in enumerate(columns)},
                    "renameByName": {field: label for field, label in columns if label != field},
                    "includeByName": {},
                },
            )
        )
    )
    for label, unit in units.items():
        panel = panel.override_by_name(label, [_prop("unit", unit)])
    return _targets(panel, queries)


class _Layout:
    """Adds rows and panels with unique ids, so links and `viewPanel=` URLs stay valid across regenerations."""

    def __init__(self, board: dash.Dashboard) -> None:
        self.board = board
        self._ids = itertools.count(1)

    def row(self, title: str) -> _Layout:
        self.board.with_row(dash.Row(title).id(next(self._ids)))
        return self

    def add(self, *panels: Any) -> _Layout:
        for panel in panels:
            self.board.with_panel(panel.id(next(self._ids)))
        return self


def _board(uid: str, title: str, description: str, *, by_base_model: bool = False) -> dash.Dashboard:
    board = (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .with_variable(dash.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(_query_variable("namespace", "Namespace", f"label_values({n.MODEL_INFO}, namespace)"))
    )
    models = f'{n.MODEL_INFO}{{namespace=~"$namespace"}}'
    if by_base_model:
        # A chain: namespace → base model (HF id) → the QuantizedModels serving it, so a comparison
        # shows the quantizations of one model, not every model in the cluster.
        board = board.with_variable(_query_variable("model_id", "Base model", f"label_values({models}, model_id)"))
        models = f'{n.MODEL_INFO}{{namespace=~"$namespace", model_id=~"$model_id"}}'
    return (
        board.with_variable(_query_variable("model", "Model", f"label_values({models}, model)"))
        .annotation(
            dash.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(dash_m.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .built_in(1)
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
        )
        .annotation(
            dash.AnnotationQuery()
            .name("Promotions")
            .datasource(DATASOURCE)
            .enable(True)
            .icon_color("green")
            .expr(f"sum by (namespace, model) (changes({_sel(n.PROMOTIONS)}[$__rate_interval])) > 0")
        )
        .annotation(
            dash.AnnotationQuery()
            .name("Rollbacks")
            .datasource(DATASOURCE)
            .enable(True)
            .icon_color("red")
            .expr(f"sum by (namespace, model) (changes({_sel(n.ROLLBACKS)}[$__rate_interval])) > 0")
        )
        .link(
            dash.DashboardLink("quantop")
            .type(dash_m.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def _query_variable(name: str, label: str, query: str) -> dash.QueryVariable:
    # No custom allValue: "All" then expands to the listed values, which keeps a chained variable
    # (model within the chosen namespaces) honest.
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(dash_m.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


# --- the dashboards ------------------------------------------------------------------------------
def overview() -> dash.Dashboard:
    board = _board(
        "quantop-overview",
        "quantop / Overview",
        "Every QuantizedModel: phase, stable revision, serving latency against its SLO, traffic, errors, accuracy and cost.",
    )
    stable_rps = f"sum({_sel(r.RPS, STABLE)})"
    stable_failures = f"sum({_sel(r.ERROR_RATIO, STABLE)} * {_sel(r.RPS, STABLE)})"
    layout = _Layout(board)
    layout.row("Fleet").add(
        _stat(
            "QuantizedModels",
            "QuantizedModels selected.",
            "none",
            [_query(f"count({_gauge(n.MODEL_INFO, 'namespace, model')})")],
            span=3,
        ),
        _stat(
            "Models by phase",
            "How many QuantizedModels are in each phase now.",
            "none",
            [_query(f"sum by (phase) ({_sel(n.MODEL_PHASE)} == 1)", "{{phase}}")],
            span=6,
            text_mode=common_m.BigValueTextMode.VALUE_AND_NAME,
        ),
        _stat(
            "Stable ready replicas",
            "Available replicas of every stable revision.",
            "none",
            [_query(f"sum({_sel(n.STABLE_READY_REPLICAS)})")],
            span=3,
        ),
        _stat(
            "Serving requests/s",
            "Requests per second to stable revisions (quantop:requests:rate5m, every engine).",
            REQPS,
            [_query(stable_rps)],
            span=3,
        ),
        _stat(
            "Serving error ratio",
            "Failed / all requests to stable revisions (quantop:request_errors:ratio_rate5m, every engine).",
            RATIO,
            [_query(f"({stable_failures} or vector(0)) / {stable_rps}")],
            span=3,
            thresholds=_thresholds((None, "green"), (0.01, "orange"), (0.05, "red")),
        ),
        _stat(
            "Promotions",
            "Revisions promoted in the time range.",
            "none",
            [_query(f"sum(increase({_sel(n.PROMOTIONS)}[$__range])) or vector(0)")],
            span=3,
        ),
        _stat(
            "Rollbacks",
            "Rollbacks in the time range.",
            "none",
            [_query(f"sum(increase({_sel(n.ROLLBACKS)}[$__range])) or vector(0)")],
            span=3,
            thresholds=_thresholds((None, "green"), (1, "orange")),
        ),
    )

    by = "namespace, model"
    p95 = _recorded(r.P95, by, STABLE)
    slo = _gauge(n.SLO_P95, by)
    models = _table(
        "Models",
        "One row per QuantizedModel. Serving figures are the stable revision's engine metrics (TGI or vLLM) "
        "over the last 5 minutes; validated figures are the stable revision's last validation. p95 / SLO above 100 % "
        "breaches the spec's p95 latency SLO.",
        [
            _instant(f"max by (namespace, model, phase) ({_sel(n.MODEL_PHASE)} == 1)"),
            _instant(_gauge(n.MODEL_INFO, "namespace, model, quantization, gpu, stable_revision")),
            _instant(p95),
            _instant(slo),
            _instant(f"{p95} / on (namespace, model) {slo}"),
            _instant(_recorded(r.RPS, by, STABLE, agg="sum")),
            _instant(_error_ratio(by, STABLE)),
            _instant(_gauge(n.PRODUCTION_ACCURACY, by)),
            _instant(_gauge(n.VALIDATION_ACCURACY, by, STABLE)),
            _instant(_gauge(n.VALIDATION_COST, by, STABLE)),
        ],
        exclude=["Value #A", "Value #B"],
        columns=[
            ("namespace", "Namespace"),
            ("model", "Model"),
            ("quantization", "Quantization"),
            ("gpu", "GPU"),
            ("phase", "Phase"),
            ("stable_revision", "Stable revision"),
            ("Value #C", "p95 (serving)"),
            ("Value #D", "p95 SLO"),
            ("Value #E", "p95 / SLO"),
            ("Value #F", "Requests/s"),
            ("Value #G", "Error ratio"),
            ("Value #H", "Accuracy (production)"),
            ("Value #I", "Accuracy (validated)"),
            ("Value #J", "$ / 1M tokens"),
        ],
        units={
            "p95 (serving)": SECONDS,
            "p95 SLO": SECONDS,
            "p95 / SLO": RATIO,
            "Requests/s": REQPS,
            "Error ratio": RATIO,
            "Accuracy (production)": RATIO,
            "Accuracy (validated)": RATIO,
            "$ / 1M tokens": USD,
        },
        sort_by="Model",
    )
    models = models.override_by_name(
        "p95 / SLO",
        [
            _prop("custom.cellOptions", {"type": "color-background", "mode": "basic"}),
            _prop(
                "thresholds",
                {
                    "mode": "absolute",
                    "steps": [
                        {"value": None, "color": "green"},
                        {"value": 0.8, "color": "orange"},
                        {"value": 1, "color": "red"},
                    ],
                },
            ),
        ],
    ).override_by_name(
        "Phase", [_prop("mappings", [PHASE_MAPPING]), _prop("custom.cellOptions", {"type": "color-text"})]
    )
    layout.row("Models").add(models)

    layout.row("Trends").add(
        _timeseries(
            "p95 latency vs SLO (serving)",
            "p95 end-to-end latency of stable revisions (quantop:request_duration_seconds:p95_5m, every engine), "
            "with each model's p95 SLO dashed.",
            SECONDS,
            [
                _query(p95, "{{model}} p95"),
                _query(slo, "{{model}} p95 SLO"),
            ],
        ),
        _timeseries(
            "Requests/s (serving)",
            "Requests per second to stable revisions.",
            REQPS,
            [_query(_recorded(r.RPS, by, STABLE, agg="sum"), "{{model}}")],
        ),
        _timeseries(
            "Error ratio (serving)",
            "Failed / all requests to stable revisions, with each model's maximum error ratio dashed.",
            RATIO,
            [
                _query(_error_ratio(by, STABLE), "{{model}}"),
                _query(_gauge(n.SLO_MAX_ERROR_RATIO, by), "{{model}} max error ratio SLO"),
            ],
        ),
        _timeseries(
            "Accuracy (production probe)",
            "Accuracy of the stable revision on held-out prompts, measured by the operator's production probe.",
            RATIO,
            [_query(_gauge(n.PRODUCTION_ACCURACY, "namespace, model, quantization"), "{{model}} ({{quantization}})")],
        ),
        _timeseries(
            "$ per 1M output tokens (validated)",
            "GPU cost per million output tokens at the stable revision's validated throughput.",
            USD,
            [
                _query(
                    _gauge(n.VALIDATION_COST, "namespace, model, quantization", STABLE), "{{model}} ({{quantization}})"
                )
            ],
        ),
        _timeseries(
            "Generated tokens/s (serving)",
            "Output tokens per second generated by stable revisions (quantop:generated_tokens:rate5m).",
            TOKENS_PER_SECOND,
            [_query(_recorded(r.TOKENS, by, STABLE, agg="sum"), "{{model}}")],
        ),
    )
    return board


def model_detail() -> dash.Dashboard:
    board = _board(
        "quantop-model",
        "quantop / Model",
        "One QuantizedModel in detail, whichever engine serves it: latency percentiles against the SLO, "
        "queueing, batching, KV cache, errors, production accuracy and the validation results of each revision.",
    )
    # Per role and engine: during a TGI -> vLLM migration the stable and the candidate show side by side.
    by = "namespace, model, role, engine"
    legend = "{{model}} {{role}} ({{engine}})"
    layout = _Layout(board)
    layout.row("Status").add(
        _stat(
            "Phase",
            "The QuantizedModel's phase (kubectl get qm).",
            "none",
            [_query(f"max by (model, phase) ({_sel(n.MODEL_PHASE)} == 1)", "{{model}}: {{phase}}")],
            text_mode=common_m.BigValueTextMode.NAME,
        ),
        _stat(
            "Stable revision",
            "The revision serving traffic, and its quantization.",
            "none",
            [
                _query(
                    _gauge(n.MODEL_INFO, "model, quantization, stable_revision"),
                    "{{model}}: {{stable_revision}} ({{quantization}})",
                )
            ],
            text_mode=common_m.BigValueTextMode.NAME,
        ),
        _stat(
            "Stable ready replicas",
            "Available replicas of the stable revision.",
            "none",
            [_query(_gauge(n.STABLE_READY_REPLICAS, "model"), "{{model}}")],
            thresholds=_thresholds((None, "red"), (1, "green")),
        ),
        _stat(
            "Last validation",
            "Verdict of the last validation of the stable and the candidate revision.",
            "none",
            [_query(_gauge(n.VALIDATION_PASSED, "model, revision, role"), "{{model}} {{revision}} ({{role}})")],
            text_mode=common_m.BigValueTextMode.VALUE_AND_NAME,
            thresholds=_thresholds((None, "red"), (1, "green")),
            mappings=[PASSED_MAPPING],
        ),
        _stat(
            "Accuracy (production)",
            "Latest production probe accuracy of the stable revision.",
            RATIO,
            [_query(_gauge(n.PRODUCTION_ACCURACY, "model"), "{{model}}")],
        ),
        _stat(
            "$ / 1M output tokens",
            "GPU cost per million output tokens at the stable revision's validated throughput.",
            USD,
            [_query(_gauge(n.VALIDATION_COST, "model", STABLE), "{{model}}")],
        ),
    )

    layout.row("Latency").add(
        _timeseries(
            "Request latency p50 / p95 / p99 vs SLO",
            "End-to-end request latency over 5 minutes (quantop:request_duration_seconds, from TGI's "
            "tgi_request_duration or vLLM's vllm:e2e_request_latency_seconds), per role (stable serves traffic, "
            "candidate is under validation load) and engine. The spec's p95 and p99 SLOs are dashed.",
            SECONDS,
            [
                _query(_recorded(r.P50, by), f"{legend} p50"),
                _query(_recorded(r.P95, by), f"{legend} p95"),
                _query(_recorded(r.P99, by), f"{legend} p99"),
                _query(_gauge(n.SLO_P95, "namespace, model"), "{{model}} p95 SLO"),
                _query(_gauge(n.SLO_P99, "namespace, model"), "{{model}} p99 SLO"),
            ],
            span=24,
            height=9,
        ),
        _timeseries(
            "Time to first token p95",
            "Live p95 TTFT of vLLM revisions (quantop:time_to_first_token_seconds; TGI exports no TTFT), and the "
            "p95 TTFT each revision's validation measured over streaming requests, with the spec's TTFT SLO dashed.",
            SECONDS,
            [
                _query(_recorded(r.TTFT_P95, by), f"{legend} p95"),
                _query(
                    _gauge(n.VALIDATION_TTFT, "namespace, model, revision, role", 'percentile="95"'),
                    "{{model}} {{revision}} ({{role}}) validated",
                ),
                _query(_gauge(n.SLO_TTFT_P95, "namespace, model"), "{{model}} TTFT p95 SLO"),
            ],
            span=8,
        ),
        _timeseries(
            "Queue time p95",
            "Time requests wait before a batch takes them (TGI's tgi_request_queue_duration, vLLM's "
            "vllm:request_queue_time_seconds).",
            SECONDS,
            [_query(_recorded(r.QUEUE_P95, by), f"{legend} p95")],
            span=8,
        ),
        _timeseries(
            "Time per output token p50 / p95",
            "Each request's mean time per output token (TGI's tgi_request_mean_time_per_token_duration includes "
            "the prefill; vLLM's vllm:request_time_per_output_token_seconds excludes the first token).",
            SECONDS,
            [
                _query(_recorded(r.TPOT_P50, by), f"{legend} p50"),
                _query(_recorded(r.TPOT_P95, by), f"{legend} p95"),
            ],
            span=8,
        ),
    )

    layout.row("Throughput").add(
        _timeseries(
            "Requests/s",
            "Requests per second (quantop:requests:rate5m), with the spec's minimum throughput dashed.",
            REQPS,
            [
                _query(_recorded(r.RPS, by, agg="sum"), legend),
                _query(_gauge(n.SLO_MIN_RPS, "namespace, model"), "{{model}} min requests/s SLO"),
            ],
            span=6,
        ),
        _timeseries(
            "Generated tokens/s",
            "Output tokens generated per second (quantop:generated_tokens:rate5m), not tokens per request.",
            TOKENS_PER_SECOND,
            [_query(_recorded(r.TOKENS, by, agg="sum"), legend)],
            span=6,
        ),
        _timeseries(
            "Queue size and batch size",
            "Requests waiting in the busiest pod's queue and the largest running batch of any pod.",
            "none",
            [
                _query(_recorded(r.QUEUE, by), f"{legend} queued"),
                _query(_recorded(r.RUNNING, by), f"{legend} running"),
            ],
            span=6,
        ),
        _timeseries(
            "KV-cache usage",
            "Share of the KV cache in use on the fullest pod (vLLM's vllm:kv_cache_usage_perc). TGI exports no "
            "KV-cache usage, so TGI revisions have no line here.",
            RATIO,
            [_query(_recorded(r.KV_CACHE, by), legend)],
            span=6,
        ),
    )

    layout.row("Errors").add(
        _timeseries(
            "Errors by kind",
            "Failed requests per second by kind: TGI's err label (validation, overloaded, incomplete, template, "
            "dropped, generation), vLLM's HTTP status class (http_4xx, http_5xx). A model without failures shows a "
            "zero 'none' series.",
            REQPS,
            [
                _query(
                    f"sum by (model, role, engine, kind) ({_sel(r.ERRORS_BY_KIND)}) or on (model, role, engine) "
                    f'label_replace({_recorded(r.RPS, "model, role, engine", agg="sum")} * 0, "kind", "none", "", "")',
                    "{{model}} {{role}} ({{engine}}) {{kind}}",
                )
            ],
        ),
        _timeseries(
            "Error ratio vs SLO",
            "Failed / all requests, with the spec's maximum error ratio dashed.",
            RATIO,
            [
                _query(_error_ratio(by), legend),
                _query(_gauge(n.SLO_MAX_ERROR_RATIO, "namespace, model"), "{{model}} max error ratio SLO"),
            ],
        ),
    )

    layout.row("Accuracy").add(
        _timeseries(
            "Production accuracy over time",
            "The operator's production probe on held-out prompts against the stable revision, the accuracy "
            "its validation measured, and the floor (baseline − allowed drop) dashed.",
            RATIO,
            [
                _query(
                    _gauge(n.PRODUCTION_ACCURACY, "namespace, model, revision"), "{{model}} {{revision}} production"
                ),
                _query(
                    _gauge(n.VALIDATION_ACCURACY, "namespace, model, revision", STABLE),
                    "{{model}} {{revision}} validated",
                ),
                _query(
                    f"{_gauge(n.ACCURACY_BASELINE, 'namespace, model')} - on (namespace, model) "
                    f"{_gauge(n.ACCURACY_MAX_DROP, 'namespace, model')}",
                    "{{model}} accuracy floor",
                ),
            ],
            span=24,
        ),
    )

    rev = "namespace, model, quantization, revision, role"
    rev_legend = "{{model}} {{revision}} ({{role}})"
    layout.row("Validation history by revision").add(
        _timeseries(
            "Validated p95 latency by revision",
            "Each revision's validated p95 latency while it was the stable or candidate revision.",
            SECONDS,
            [
                _query(_gauge(n.VALIDATION_LATENCY, rev, 'percentile="95"'), rev_legend),
                _query(_gauge(n.SLO_P95, "namespace, model"), "{{model}} p95 SLO"),
            ],
            span=8,
        ),
        _timeseries(
            "Validated accuracy by revision",
            "Each revision's accuracy on the held-out set.",
            RATIO,
            [_query(_gauge(n.VALIDATION_ACCURACY, rev), rev_legend)],
            span=8,
        ),
        _timeseries(
            "Validated requests/s by revision",
            "Each revision's throughput under the validation load.",
            REQPS,
            [
                _query(_gauge(n.VALIDATION_RPS, rev), rev_legend),
                _query(_gauge(n.SLO_MIN_RPS, "namespace, model"), "{{model}} min requests/s SLO"),
            ],
            span=8,
        ),
        _table(
            "Validation results by revision",
            "The last validation of the stable and the candidate revision.",
            [
                _instant(_gauge(n.VALIDATION_LATENCY, rev, 'percentile="50"')),
                _instant(_gauge(n.VALIDATION_LATENCY, rev, 'percentile="95"')),
                _instant(_gauge(n.VALIDATION_LATENCY, rev, 'percentile="99"')),
                _instant(_gauge(n.VALIDATION_TTFT, rev, 'percentile="95"')),
                _instant(_gauge(n.VALIDATION_RPS, rev)),
                _instant(_gauge(n.VALIDATION_TOKENS, rev)),
                _instant(_gauge(n.VALIDATION_ERROR_RATIO, rev)),
                _instant(_gauge(n.VALIDATION_ACCURACY, rev)),
                _instant(_gauge(n.VALIDATION_ACCURACY_DROP, rev)),
                _instant(_gauge(n.VALIDATION_COST, rev)),
                _instant(_gauge(n.VALIDATION_PASSED, rev)),
                _instant(f"{_gauge(n.VALIDATION_TIMESTAMP, rev)} * 1000"),
            ],
            exclude=[],
            columns=[
                ("namespace", "Namespace"),
                ("model", "Model"),
                ("quantization", "Quantization"),
                ("revision", "Revision"),
                ("role", "Role"),
                ("Value #A", "p50"),
                ("Value #B", "p95"),
                ("Value #C", "p99"),
                ("Value #D", "TTFT p95"),
                ("Value #E", "Requests/s"),
                ("Value #F", "Output tokens/s"),
                ("Value #G", "Error ratio"),
                ("Value #H", "Accuracy"),
                ("Value #I", "Accuracy drop"),
                ("Value #J", "$ / 1M tokens"),
                ("Value #K", "Verdict"),
                ("Value #L", "Finished"),
            ],
            units={
                "p50": SECONDS,
                "p95": SECONDS,
                "p99": SECONDS,
                "TTFT p95": SECONDS,
                "Requests/s": REQPS,
                "Output tokens/s": TOKENS_PER_SECOND,
                "Error ratio": RATIO,
                "Accuracy": RATIO,
                "Accuracy drop": RATIO,
                "$ / 1M tokens": USD,
                "Finished": "dateTimeAsIso",
            },
            sort_by="Finished",
            newest_first=True,
            height=8,
        ).override_by_name(
            "Verdict", [_prop("mappings", [PASSED_MAPPING]), _prop("custom.cellOptions", {"type": "color-text"})]
        ),
    )
    return board


def quantization_comparison() -> dash.Dashboard:
    board = _board(
        "quantop-quantization-comparison",
        "quantop / Quantization comparison",
        "The quantization guide's comparison table, built from each QuantizedModel's last validation: "
        "pick the base model, then compare its quantizations on latency, throughput, accuracy and cost.",
        by_base_model=True,
    )
    rev = "namespace, model, quantization, revision, role"
    layout = _Layout(board)
    layout.row("Validated (the guide's table)").add(
        _table(
            "Quantization comparison",
            "One row per validated revision (stable and candidate): median, p95 and p98 latency as in the "
            "guide's benchmark table, throughput, accuracy and cost at the validated throughput.",
            [
                _instant(_gauge(n.VALIDATION_LATENCY, rev, 'percentile="50"')),
                _instant(_gauge(n.VALIDATION_LATENCY, rev, 'percentile="95"')),
                _instant(_gauge(n.VALIDATION_LATENCY, rev, 'percentile="98"')),
                _instant(_gauge(n.VALIDATION_RPS, rev)),
                _instant(_gauge(n.VALIDATION_TOKENS, rev)),
                _instant(_gauge(n.VALIDATION_ERROR_RATIO, rev)),
                _instant(_gauge(n.VALIDATION_ACCURACY, rev)),
                _instant(_gauge(n.VALIDATION_ACCURACY_DROP, rev)),
                _instant(_gauge(n.VALIDATION_COST, rev)),
                _instant(_gauge(n.VALIDATION_PASSED, rev)),
                _instant(_gauge(n.VALIDATION_SIZE_REDUCTION, rev)),
                _instant(_gauge(n.VALIDATION_SPEEDUP, rev)),
            ],
            exclude=["namespace"],
            columns=[
                ("quantization", "Quantization"),
                ("model", "Model"),
                ("revision", "Revision"),
                ("role", "Role"),
                ("Value #A", "Median"),
                ("Value #B", "p95"),
                ("Value #C", "p98"),
                ("Value #K", "Size vs baseline"),
                ("Value #L", "Speed-up"),
                ("Value #D", "Requests/s"),
                ("Value #E", "Output tokens/s"),
                ("Value #F", "Error ratio"),
                ("Value #G", "Accuracy"),
                ("Value #H", "Accuracy drop"),
                ("Value #I", "$ / 1M tokens"),
                ("Value #J", "Verdict"),
            ],
            units={
                "Median": SECONDS,
                "p95": SECONDS,
                "p98": SECONDS,
                "Size vs baseline": "suffix:x",
                "Speed-up": "suffix:x",
                "Requests/s": REQPS,
                "Output tokens/s": TOKENS_PER_SECOND,
                "Error ratio": RATIO,
                "Accuracy": RATIO,
                "Accuracy drop": RATIO,
                "$ / 1M tokens": USD,
            },
            sort_by="Median",
        ).override_by_name(
            "Verdict", [_prop("mappings", [PASSED_MAPPING]), _prop("custom.cellOptions", {"type": "color-text"})]
        ),
        _latency_vs_accuracy(rev),
        _bars(
            "Validated p95 latency",
            SECONDS,
            _gauge(n.VALIDATION_LATENCY, rev, 'percentile="95"'),
        ),
        _bars(
            "$ per 1M output tokens",
            USD,
            _gauge(n.VALIDATION_COST, rev),
        ),
    )

    layout.row("Selection (method: auto)").add(*selection_panels())

    by = "namespace, model, quantization, engine"
    legend = "{{quantization}} {{engine}} ({{model}})"
    layout.row("Serving").add(
        _timeseries(
            "p95 latency by quantization (serving)",
            "Live p95 end-to-end latency of stable revisions (quantop:request_duration_seconds:p95_5m), per engine.",
            SECONDS,
            [_query(_recorded(r.P95, by, STABLE), legend)],
            span=8,
        ),
        _timeseries(
            "Time per output token p50 by quantization (serving)",
            "Median of each request's mean time per output token, stable revisions, per engine.",
            SECONDS,
            [_query(_recorded(r.TPOT_P50, by, STABLE), legend)],
            span=8,
        ),
        _timeseries(
            "Generated tokens/s by quantization (serving)",
            "Output tokens per second generated by stable revisions, per engine.",
            TOKENS_PER_SECOND,
            [_query(_recorded(r.TOKENS, by, STABLE, agg="sum"), legend)],
            span=8,
        ),
    )
    return board


def selection_panels() -> list[Any]:
    """The guide's six-row study as a `method: auto` selection ran it: one row per candidate (method on a GPU),
    its state and figures, and the GPU time each selection used."""
    cand = "namespace, model, method, gpu"
    figures = [
        (n.SELECTION_CANDIDATE_P95, "p95", SECONDS),
        (n.SELECTION_CANDIDATE_ACCURACY, "Accuracy", RATIO),
        (n.SELECTION_CANDIDATE_TOKENS, "Output tokens/s", TOKENS_PER_SECOND),
        (n.SELECTION_CANDIDATE_COST, "$ / 1M tokens", USD),
        (n.SELECTION_CANDIDATE_WEIGHTS, "Weights", "bytes"),
        (n.SELECTION_CANDIDATE_GPU_SECONDS, "GPU time", SECONDS),
    ]
    refs = "BCDEFG"
    table_panel = _table(
        "Selection candidates",
        "Each candidate of a method: auto selection (status.selection): its state (Passed, Failed, CannotWin: "
        "stopped early, OverBudget, Refused by the planner, ...), its validated figures, its GPU time. The "
        "winner is in the Chosen column of kubectl get qm and in quantop_selection_winner.",
        [
            _instant(_gauge(n.SELECTION_CANDIDATE_STATE, f"{cand}, state")),
            *(_instant(_gauge(metric, cand)) for metric, _, _ in figures),
            _instant(_gauge(n.SELECTION_WINNER, cand)),
        ],
        exclude=["namespace", "Value #A"],
        columns=[
            ("model", "Model"),
            ("method", "Method"),
            ("gpu", "GPU"),
            ("state", "State"),
            *((f"Value #{ref}", label) for ref, (_, label, _) in zip(refs, figures, strict=True)),
            ("Value #H", "Winner"),
        ],
        units={label: unit for _, label, unit in figures} | {"Winner": "none"},
        sort_by="p95",
        span=16,
    )
    return [
        table_panel,
        _bars(
            "GPU time used",
            SECONDS,
            _gauge(n.SELECTION_GPU_SECONDS, "namespace, model"),
            legend="{{model}}",
            by="selection",
            what="each model's selection (GPUs x time its candidates ran; the guide's manual study: 6 x 5 minutes)",
        ),
    ]


def _latency_vs_accuracy(rev: str) -> xychart.Panel:
    def by_name(name: str) -> xychart.MatcherConfig:
        return xychart.MatcherConfig().id("byName").options(name)

    series = (
        xychart.XYSeriesConfig()
        .name(xychart.XychartXYSeriesConfigName().fixed("Validated revisions"))
        .frame(xychart.XychartXYSeriesConfigFrame().matcher(xychart.MatcherConfig().id("byIndex").options(0)))
        .x(xychart.XychartXYSeriesConfigX().matcher(by_name("Accuracy")))
        .y(xychart.XychartXYSeriesConfigY().matcher(by_name("p95 latency")))
    )
    panel = (
        xychart.Panel()
        .title("Latency vs accuracy")
        .description(
            "Each validated revision as a point: accuracy on the held-out set (x) against p95 latency (y). "
            "Lower right is better; hover a point for its quantization."
        )
        .datasource(DATASOURCE)
        .span(12)
        .height(10)
        .mapping(xychart_m.SeriesMapping.MANUAL)
        .series([series])
        .show(xychart_m.XYShowMode.POINTS)
        .point_size(xychart.XychartFieldConfigPointSize().fixed(10))
        .tooltip(common_b.VizTooltipOptions().mode(common_m.TooltipDisplayMode.SINGLE))
        .legend(common_b.VizLegendOptions().show_legend(True).display_mode(common_m.LegendDisplayMode.LIST))
        .with_transformation(dash_m.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dash_m.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "indexByName": {},
                    "renameByName": {"Value #A": "Accuracy", "Value #B": "p95 latency"},
                    "includeByName": {},
                },
            )
        )
        .override_by_name("Accuracy", [_prop("unit", RATIO)])
        .override_by_name("p95 latency", [_prop("unit", SECONDS)])
    )
    return _targets(
        panel,
        [
            _instant(_gauge(n.VALIDATION_ACCURACY, rev)),
            _instant(_gauge(n.VALIDATION_LATENCY, rev, 'percentile="95"')),
        ],
    )


def _bars(
    title: str,
    unit: str,
    expr: str,
    legend: str = "{{quantization}} {{model}} {{revision}} ({{role}})",
    what: str = "each validated revision",
    by: str = "quantization",
) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(f"{title} by {by}")
        .description(f"{title} of {what}.")
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(6)
        .height(10)
        .orientation(common_m.VizOrientation.HORIZONTAL)
        .display_mode(common_m.BarGaugeDisplayMode.BASIC)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(_thresholds((None, "blue")))
    )
    return _targets(panel, [_query(expr, legend, instant=True)])


# --- output --------------------------------------------------------------------------------------
BUILDERS = {
    OVERVIEW_FILE: overview,
    MODEL_FILE: model_detail,
    COMPARISON_FILE: quantization_comparison,
}


def render(board: dash.Dashboard) -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(board.build()) + "\n"


def all_dashboards() -> dict[str, str]:
    """Filename → dashboard JSON, in a stable order: what `dashboards/` and the chart commit."""
    return {name: render(build()) for name, build in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quantop_build.dashboards", description="Write quantop's Grafana dashboards as JSON."
    )
    parser.add_argument(
        "--out-dir", type=Path, action="append", required=True, help="directory to write into (repeatable)"
    )
    args = parser.parse_args(argv)
    for out_dir in args.out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in all_dashboards().items():
            (out_dir / name).write_text(text, encoding="utf-8")
            print(out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
