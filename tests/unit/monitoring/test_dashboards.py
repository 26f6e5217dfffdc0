from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests import dashboard_queries as q

from quantop.monitoring import POD_LABELS, names
from quantop.monitoring import rules as r
from quantop.monitoring.exporter import REVISION
from quantop_build import dashboards as d

ROOT = Path(__file__).resolve().parents[3]
COPIES = [ROOT / "dashboards", ROOT / "charts" / "quantop" / "files" / "dashboards"]
REGENERATE = "regenerate with: PYTHONPATH=tools .venv/bin/python -m quantop_build.dashboards --out-dir dashboards --out-dir charts/quantop/files/dashboards"

DASHBOARDS = d.all_dashboards()
PARSED = {name: json.loads(text) for name, text in DASHBOARDS.items()}
RECORDED = {rule["record"] for group in r.rules()["groups"] for rule in group["rules"] if "record" in rule}
OPERATOR = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str) and v.startswith("quantop_")}
# Dashboards read the operator's series and the recording rules: never an engine's own names, so one
# dashboard serves TGI and vLLM alike.
KNOWN = OPERATOR | RECORDED
# Series a histogram exports besides its base name, which is never a series itself.
HISTOGRAMS = {names.RECONCILE_DURATION}
COUNTERS = {v for v in KNOWN if v.endswith("_total")}
METRIC = re.compile(r"\b(?:quantop[_:][\w:]+|tgi_\w+|vllm:\w+|http_requests\w*)")


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels") or [])
    return [p for p in out if p["type"] != "row"]


def all_queries(board: dict[str, Any]) -> list[str]:
    return q.panel_queries(board) + q.annotation_queries(board)


def variable(board: dict[str, Any], name: str) -> dict[str, Any]:
    found = [v for v in board["templating"]["list"] if v["name"] == name]
    assert found, f"{board['uid']} has no ${name} variable"
    return found[0]


def by_title(board: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in panels(board) if p["title"] == title)


# ------------------------------------------------------------------------------------ committed copies


def test_generated_files_are_the_three_dashboards_in_a_stable_order() -> None:
    assert list(DASHBOARDS) == [
        "quantop-overview.json",
        "quantop-model.json",
        "quantop-quantization-comparison.json",
    ]
    for text in DASHBOARDS.values():
        assert text.endswith("}\n")
    assert d.all_dashboards() == DASHBOARDS


@pytest.mark.parametrize("directory", COPIES, ids=["dashboards", "chart"])
def test_committed_dashboards_match_the_code(directory: Path) -> None:
    committed = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.json"))}
    assert set(committed) == set(DASHBOARDS), f"{directory} holds other dashboards than the code builds; {REGENERATE}"
    for name, text in DASHBOARDS.items():
        assert committed[name] == text, f"{directory / name} drifted from quantop_build.dashboards; {REGENERATE}"


def test_main_writes_every_dashboard(tmp_path: Path) -> None:
    assert d.main(["--out-dir", str(tmp_path / "a"), "--out-dir", str(tmp_path / "b")]) == 0
    for out in ("a", "b"):
        assert {p.name: p.read_text() for p in (tmp_path / out).iterdir()} == DASHBOARDS


def test_chart_ships_the_dashboards_to_the_grafana_sidecar() -> None:
    chart = ROOT / "charts" / "quantop"
    template = (chart / "templates" / "dashboards-configmap.yaml").read_text()
    assert '.Files.Glob "files/dashboards/*.json"' in template
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["metrics"]["dashboards"]["labels"] == {"grafana_dashboard": "1"}


# ------------------------------------------------------------------------------------ dashboard shape


@pytest.mark.parametrize("name", list(PARSED))
def test_dashboard_identity_and_variables(name: str) -> None:
    board = PARSED[name]
    assert board["uid"] == name.removesuffix(".json")
    assert board["tags"] == ["quantop"]
    assert board["time"] == {"from": "now-6h", "to": "now"}
    ds = variable(board, "datasource")
    assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
    namespace = variable(board, "namespace")
    assert (namespace["type"], namespace["query"]) == ("query", "label_values(quantop_model_info, namespace)")
    model = variable(board, "model")
    assert model["type"] == "query"
    assert model["query"].startswith('label_values(quantop_model_info{namespace=~"$namespace"')
    assert model["query"].endswith("}, model)")
    for var in (namespace, model):
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert var["multi"] and var["includeAll"]


def test_model_detail_has_the_datasource_namespace_and_model_variables() -> None:
    board = PARSED["quantop-model.json"]
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "namespace", "model"]
    assert variable(board, "model")["query"] == 'label_values(quantop_model_info{namespace=~"$namespace"}, model)'


@pytest.mark.parametrize("name", list(PARSED))
def test_every_panel_and_query_uses_the_datasource_variable(name: str) -> None:
    for panel in panels(PARSED[name]):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel.get("targets"), f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


@pytest.mark.parametrize("name", list(PARSED))
def test_panel_ids_and_ref_ids_are_unique(name: str) -> None:
    board = PARSED[name]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and 0 not in ids
    for panel in panels(board):
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)) and "" not in refs, panel["title"]


@pytest.mark.parametrize("name", list(PARSED))
def test_table_columns_name_real_queries(name: str) -> None:
    # A renamed "Value #X" whose query was removed would leave a silently empty column.
    for panel in panels(PARSED[name]):
        refs = {t["refId"] for t in panel["targets"]}
        for transform in panel.get("transformations") or []:
            if transform["id"] != "organize":
                continue
            options = transform["options"]
            for field in [*options["renameByName"], *options["excludeByName"]]:
                if field.startswith("Value #"):
                    assert field.removeprefix("Value #") in refs, f"{panel['title']}: {field}"
            if panel["type"] == "table":
                values = {f"Value #{r}" for r in refs}
                shown = set(options["renameByName"]) | set(options["excludeByName"])
                assert values <= shown, f"{panel['title']}: unnamed query columns {sorted(values - shown)}"
        if panel.get("transformations"):
            assert all(t.get("format") == "table" and t.get("instant") for t in panel["targets"]), panel["title"]


@pytest.mark.parametrize("name", list(PARSED))
def test_every_panel_has_a_unit(name: str) -> None:
    for panel in panels(PARSED[name]):
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        overrides = [p for o in panel.get("fieldConfig", {}).get("overrides", []) for p in o["properties"]]
        assert defaults.get("unit") or any(p["id"] == "unit" for p in overrides), panel["title"]


# ------------------------------------------------------------------------------------ queries


@pytest.mark.parametrize("name", list(PARSED))
def test_queries_reference_only_metrics_of_the_contract(name: str) -> None:
    for expr in all_queries(PARSED[name]):
        for metric in METRIC.findall(expr):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            assert metric in KNOWN or base in HISTOGRAMS, f"{metric} is not in quantop/monitoring/names.py: {expr}"
            assert metric not in HISTOGRAMS, f"{metric} is a histogram: query _bucket, _sum or _count: {expr}"


@pytest.mark.parametrize("name", list(PARSED))
def test_rates_are_taken_of_counters_only(name: str) -> None:
    # rate() of a gauge or of a TGI counter spelled with _total is the classic "No data".
    for expr in all_queries(PARSED[name]):
        for fn, metric in re.findall(r"\b(rate|increase|changes)\((\w+)", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            assert metric in COUNTERS or (base in HISTOGRAMS and base != metric), f"{fn}({metric}) in {expr}"
        for quantile in re.findall(r"histogram_quantile\(([^,]+), sum by \(([^)]*)\) \(rate\((\w+)", expr):
            assert "le" in [s.strip() for s in quantile[1].split(",")], expr
            assert quantile[2].endswith("_bucket"), expr


def test_panel_queries_substitute_every_template_variable() -> None:
    board = PARSED["quantop-model.json"]
    queries = q.panel_queries(board)
    raw = [t["expr"] for p in panels(board) for t in p["targets"]]
    assert len(queries) == len(raw)
    assert not [q for q in queries if "$" in q]
    assert any('namespace=~".*", model=~".*"' in q for q in queries)


def test_substitute_refuses_an_unknown_variable() -> None:
    assert q.substitute('up{job=~"${namespace}"}[$__interval]') == 'up{job=~".*"}[1m]'
    with pytest.raises(ValueError, match=r"\$instance"):
        q.substitute('up{instance="$instance"}')


def _promtool() -> str:
    promtool = shutil.which("promtool", path=str(ROOT / ".tools" / "bin")) or shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's prometheus package (scripts/install-tools.sh)", pytrace=False)
    return promtool


@pytest.mark.parametrize("name", list(PARSED))
def test_every_query_is_valid_promql(name: str, tmp_path: Path) -> None:
    queries = all_queries(PARSED[name])
    rules = {
        "groups": [
            {
                "name": name,
                "rules": [{"record": f"quantop_dashboard:query_{i}", "expr": expr} for i, expr in enumerate(queries)],
            }
        ]
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    result = subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


# ------------------------------------------------------------------------------------ what each shows


def test_overview_covers_what_the_issue_asks_for() -> None:
    board = PARSED["quantop-overview.json"]
    table = by_title(board, "Models")
    exprs = " ".join(t["expr"] for t in table["targets"])
    columns = next(t for t in table["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    for column in ("Phase", "Stable revision", "p95 (serving)", "p95 SLO", "p95 / SLO", "Requests/s", "Error ratio"):
        assert column in columns.values()
    assert {"Accuracy (production)", "$ / 1M tokens"} <= set(columns.values())
    for metric in (
        names.MODEL_PHASE,
        names.MODEL_INFO,
        names.SLO_P95,
        r.RPS,
        r.ERROR_RATIO,
        names.PRODUCTION_ACCURACY,
        names.VALIDATION_COST,
        r.P95,
    ):
        assert metric in exprs
    assert f"{names.MODEL_PHASE}{{" in exprs and "== 1" in exprs
    latency = by_title(board, "p95 latency vs SLO (serving)")
    assert [t["expr"].split("(")[0] for t in latency["targets"]] == ["max by ", "max by "]
    assert r.P95 in latency["targets"][0]["expr"] and names.SLO_P95 in latency["targets"][1]["expr"]


def test_model_detail_shows_percentiles_against_the_slo() -> None:
    board = PARSED["quantop-model.json"]
    latency = by_title(board, "Request latency p50 / p95 / p99 vs SLO")
    exprs = [t["expr"] for t in latency["targets"]]
    assert [METRIC.findall(e) for e in exprs[:3]] == [[r.P50], [r.P95], [r.P99]]
    # Per role and engine: a TGI stable and a vLLM candidate are two lines each, never one mixed line.
    assert all(e.startswith("max by (namespace, model, role, engine) (") for e in exprs[:3])
    assert names.SLO_P95 in exprs[3] and names.SLO_P99 in exprs[4]
    assert latency["fieldConfig"]["defaults"]["unit"] == "s"
    slo_style = [o for o in latency["fieldConfig"]["overrides"] if "SLO" in o["matcher"]["options"]]
    assert slo_style and "SLO" in latency["targets"][3]["legendFormat"]

    def metrics(title: str) -> str:
        return " ".join(t["expr"] for t in by_title(board, title)["targets"])

    assert {names.VALIDATION_TTFT, r.TTFT_P95} <= set(METRIC.findall(metrics("Time to first token p95")))
    assert r.QUEUE_P95 in metrics("Queue time p95")
    assert {r.TPOT_P50, r.TPOT_P95} <= set(METRIC.findall(metrics("Time per output token p50 / p95")))
    assert f"sum by (namespace, model, role, engine) ({r.TOKENS}" in metrics("Generated tokens/s")
    assert {r.QUEUE, r.RUNNING} <= set(METRIC.findall(metrics("Queue size and batch size")))
    assert r.KV_CACHE in metrics("KV-cache usage")
    assert f"by (model, role, engine, kind) ({r.ERRORS_BY_KIND}" in metrics("Errors by kind")
    assert names.PRODUCTION_ACCURACY in metrics("Production accuracy over time")
    assert "revision" in metrics("Validation results by revision")


def test_comparison_is_the_guides_table_and_a_latency_accuracy_chart() -> None:
    board = PARSED["quantop-quantization-comparison.json"]
    comparison = by_title(board, "Quantization comparison")
    assert comparison["type"] == "table"
    exprs = [t["expr"] for t in comparison["targets"]]
    for percentile in ("50", "95", "98"):
        assert any(
            f'{names.VALIDATION_LATENCY}{{namespace=~"$namespace", model=~"$model", percentile="{percentile}"}}' in e
            for e in exprs
        )
    assert any(names.VALIDATION_ACCURACY + "{" in e for e in exprs)
    assert any(names.VALIDATION_COST in e for e in exprs)
    assert all("quantization" in e for e in exprs)
    assert [t["id"] for t in comparison["transformations"]] == ["merge", "organize"]
    scatter = by_title(board, "Latency vs accuracy")
    assert scatter["type"] == "xychart"
    series = scatter["options"]["series"][0]
    assert (series["x"]["matcher"]["options"], series["y"]["matcher"]["options"]) == ("Accuracy", "p95 latency")


def _series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    return {"series": metric + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "values": values}


def _engine_series(labels: dict[str, str]) -> list[dict[str, str]]:
    """Both engines' raw series as their pods export them, relabeled as the PodMonitor does: a TGI
    stable and a vLLM candidate of one model, as in a TGI -> vLLM migration. No failure series exist
    yet, as on a healthy cluster: those are the cases that used to show "No data"."""
    steady, counting = "3x80", "0+10x80"  # 15 s samples over 20 minutes
    tgi = {**labels, "pod": "phi35-fp8-abc-1", "revision": "abc", "role": "stable"}
    vllm = {**labels, "pod": "phi35-fp8-def-1", "revision": "def", "role": "candidate"}
    core = {**vllm, "engine": "0", "model_name": "microsoft/Phi-3.5-mini-instruct"}
    out = [_series(names.TGI_REQUEST_COUNT, tgi, counting)]
    out.append(_series(names.VLLM_HTTP_REQUESTS, {**vllm, "handler": "/v1/completions", "status": "2xx"}, counting))
    histograms = [
        (tgi, [names.TGI_REQUEST_DURATION, names.TGI_QUEUE_DURATION, names.TGI_TIME_PER_TOKEN]),
        (core, [names.VLLM_E2E_LATENCY, names.VLLM_TTFT, names.VLLM_TIME_PER_OUTPUT_TOKEN, names.VLLM_QUEUE_TIME]),
    ]
    for series_labels, histogram_names in histograms:
        for histogram in histogram_names:
            for le, per_step in (("0.5", 2), ("5", 8), ("+Inf", 10)):
                out.append(_series(histogram + "_bucket", {**series_labels, "le": le}, f"0+{per_step}x80"))
    out.append(_series(names.TGI_GENERATED_TOKENS + "_sum", tgi, "0+30x80"))
    out.append(_series(names.VLLM_GENERATION_TOKENS, core, "0+30x80"))
    out += [_series(g, tgi, steady) for g in (names.TGI_QUEUE_SIZE, names.TGI_BATCH_SIZE)]
    out += [_series(g, core, steady) for g in (names.VLLM_WAITING, names.VLLM_RUNNING)]
    out.append(_series(names.VLLM_KV_CACHE_USAGE, core, "0.5x80"))
    return out


def _scraped_series() -> list[dict[str, str]]:
    """One model as Prometheus holds it: its engines' series and the operator's, with the exporter's label names."""
    model = {"namespace": "llm", "model": "phi35-fp8"}
    pod = {target: "x" for _, target in POD_LABELS}
    tgi = {**pod, **model, "pod": "phi35-fp8-abc-1", "quantization": "fp8", "revision": "abc", "role": "stable"}
    revision = {name: tgi[name] for name in REVISION}
    steady = "1x80"
    out = _engine_series({**pod, **model, "quantization": "fp8"})
    info = {
        "model_id": "microsoft/Phi-3.5-mini-instruct",
        "quantization": "fp8",
        "gpu": "a10",
        "stable_revision": "abc",
    }
    out.append(_series(names.MODEL_INFO, {**model, **info}, steady))
    out += [_series(names.MODEL_PHASE, {**model, "phase": p}, v) for p, v in (("Promoted", "1x80"), ("Failed", "0x80"))]
    out.append(_series(names.STABLE_READY_REPLICAS, model, "2x80"))
    for quantile in ("50", "95", "98", "99"):
        out.append(_series(names.VALIDATION_LATENCY, {**revision, "percentile": quantile}, "5x80"))
    out.append(_series(names.VALIDATION_TTFT, {**revision, "percentile": "95"}, "0.4x80"))
    validation = [
        names.VALIDATION_RPS,
        names.VALIDATION_TOKENS,
        names.VALIDATION_ERROR_RATIO,
        names.VALIDATION_ACCURACY,
        names.VALIDATION_ACCURACY_DROP,
        names.VALIDATION_COST,
        names.VALIDATION_PASSED,
        names.VALIDATION_TIMESTAMP,
        names.VALIDATION_SPEEDUP,
        names.VALIDATION_SIZE_REDUCTION,
    ]
    out += [_series(g, revision, steady) for g in validation]
    slos = [
        names.SLO_P95,
        names.SLO_P99,
        names.SLO_TTFT_P95,
        names.SLO_MIN_RPS,
        names.SLO_MAX_ERROR_RATIO,
        names.ACCURACY_BASELINE,
        names.ACCURACY_MAX_DROP,
    ]
    out += [_series(g, model, steady) for g in slos]
    probe = {name: revision[name] for name in REVISION if name != "role"}
    out.append(_series(names.PRODUCTION_ACCURACY, probe, "0.6x80"))
    out.append(_series(names.PROMOTIONS, model, "0x40 1x40"))
    return out + _selection_series(model)


def _selection_series(model: dict[str, str]) -> list[dict[str, str]]:
    """A finished method: auto selection of the same model, as the exporter writes it."""
    row = {**model, "method": "eetq", "gpu": "a10"}
    out = [_series(names.SELECTION_CANDIDATE_STATE, {**row, "state": "Passed"}, "1x80")]
    figures = [
        names.SELECTION_CANDIDATE_P95,
        names.SELECTION_CANDIDATE_ACCURACY,
        names.SELECTION_CANDIDATE_TOKENS,
        names.SELECTION_CANDIDATE_COST,
        names.SELECTION_CANDIDATE_WEIGHTS,
        names.SELECTION_CANDIDATE_GPU_SECONDS,
        names.SELECTION_WINNER,
    ]
    out += [_series(g, row, "1x80") for g in figures]
    out.append(_series(names.SELECTION_GPU_SECONDS, model, "600x80"))
    return out


@pytest.mark.parametrize("name", list(PARSED))
def test_every_panel_query_returns_data_from_scraped_series(name: str, tmp_path: Path) -> None:
    # absent(q) is empty exactly when q returns something, so expecting no samples asserts data.
    queries = q.panel_queries(PARSED[name])
    # Both engines reach the panels through the shipped recording rules, each labelled with its engine.
    engines = {
        "expr": f"count by (engine, role) ({r.RPS})",
        "eval_time": "19m",
        "exp_samples": [
            {"labels": '{engine="tgi", role="stable"}', "value": 1},
            {"labels": '{engine="vllm", role="candidate"}', "value": 1},
        ],
    }
    tests = {
        "rule_files": [str(ROOT / "operator" / "quantop" / "monitoring" / "rules.yaml")],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": _scraped_series(),
                "promql_expr_test": [
                    engines,
                    *({"expr": f"absent({q})", "eval_time": "19m", "exp_samples": []} for q in queries),
                ],
            }
        ],
    }
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False, width=100_000))
    result = subprocess.run(
        [_promtool(), "test", "rules", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, (
        f"{name}: queries without data (exp: nil, got: absent):\n{result.stdout}{result.stderr}"
    )


def test_comparison_shows_selection_candidates_by_method_and_gpu() -> None:
    board = PARSED["quantop-quantization-comparison.json"]
    table = by_title(board, "Selection candidates")
    exprs = [t["expr"] for t in table["targets"]]
    assert all("method, gpu" in e for e in exprs), exprs
    assert any(names.SELECTION_CANDIDATE_STATE in e and "state" in e for e in exprs)
    assert any(names.SELECTION_CANDIDATE_P95 in e for e in exprs) and any(names.SELECTION_WINNER in e for e in exprs)
    renamed = table["transformations"][1]["options"]["renameByName"]
    assert {"state": "State", "Value #B": "p95", "Value #H": "Winner"}.items() <= renamed.items()
    assert names.SELECTION_GPU_SECONDS in by_title(board, "GPU time used by selection")["targets"][0]["expr"]
