"""`quantop report qm/NAME -n NS` (live, through the Kubernetes API) and `quantop report FILE` for a saved
QuantizedModel: a `method: auto` selection as the guide's table, its objective, winner and GPU-minutes.

What comes back from the API server or a file is untrusted: the name and namespace are checked before
they enter a URL, the read has a deadline and a size cap, and every failure is one line that says what
to do.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError

from quantop.api import GROUP, KIND, PLURAL, VERSION
from quantop.api.command_errors import CommandError
from quantop.api.selection import MAX_CANDIDATES, CandidateRow, SelectionStatus
from quantop.api.spec import Validation

from .plot_data import Limits
from .report import render_table

#: An object in etcd is at most 1.5 MiB; more than this is not a QuantizedModel.
MAX_OBJECT_BYTES = 4 * 1024 * 1024
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LIVE_PREFIXES = ("qm/", "quantizedmodel/", "quantizedmodels/", f"{PLURAL}.{GROUP}/")
#: The guide's manual study: six TGI configurations load-tested five minutes each, one GPU.
GUIDE_MANUAL_GPU_MINUTES = 6 * 5
#: Rows the plots draw: a selection has at most MAX_CANDIDATES methods on each of a few GPUs.
MAX_PLOTTED_ROWS = 4 * MAX_CANDIDATES

HEADER = [
    "candidate", "p50 ms", "p95 ms [bounds]", "p98 ms", "TTFT p95", "tokens/s", "accuracy [interval]",
    "size vs base", "speed-up", "$/1M tok", "verdict", "reason",
]  # fmt: skip


def is_live_ref(text: str) -> bool:
    return text.startswith(_LIVE_PREFIXES)


def parse_ref(ref: str, namespace: str) -> tuple[str, str]:
    """`qm/NAME` and a namespace, checked as Kubernetes names before they go into a URL path."""
    name = ref.split("/", 1)[1]
    if not _NAME.fullmatch(name) or len(name) > 253:
        raise CommandError(f"{ref!r} does not name a QuantizedModel: write qm/NAME with a Kubernetes object name")
    if not _NAMESPACE.fullmatch(namespace) or len(namespace) > 63:
        raise CommandError(f"namespace {namespace!r} is not a Kubernetes namespace name: fix -n")
    return namespace, name


def _fmt(value: float | None, spec: str = ".0f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _bounds(point: float | None, low: float | None, high: float | None, spec: str) -> str:
    if point is None:
        return "-"
    inner = f" [{low:{spec}}-{high:{spec}}]" if low is not None and high is not None else ""
    return f"{point:{spec}}{inner}"


def row_cells(row: CandidateRow, winner: str | None) -> list[str]:
    mark = " (winner)" if row.label == winner else " (baseline)" if row.baseline else ""
    return [
        row.label + mark,
        _fmt(row.p50_ms),
        _bounds(row.p95_ms, row.p95_low_ms, row.p95_high_ms, ".0f"),
        _fmt(row.p98_ms),
        _fmt(row.ttft_p95_ms),
        _fmt(row.output_tokens_per_second),
        _bounds(row.accuracy, row.accuracy_low, row.accuracy_high, ".3f"),
        _fmt(row.size_reduction, ".2f", "x"),
        _fmt(row.speedup, ".2f", "x"),
        _fmt(row.cost_per_million_tokens, ".2f"),
        row.state.value,
        " ".join(row.reason.split())[:160],
    ]


def summary_lines(sel: SelectionStatus) -> list[str]:
    budget = f" of maxGpuMinutes {sel.max_gpu_minutes:g}" if sel.max_gpu_minutes is not None else ""
    outcome = f"winner {sel.choice()}" if sel.winner else f"{sel.phase.value}: {sel.reason}".rstrip(": ")
    return [
        f"objective: {sel.objective}; {outcome}",
        f"GPU-minutes used: {sel.gpu_minutes:.1f}{budget} (the guide's manual study: 6 configurations x 5 min "
        f"= {GUIDE_MANUAL_GPU_MINUTES} GPU-minutes of load alone, plus its accuracy runs by hand)",
    ]


def selection_of(obj: Mapping[str, Any], source: str) -> SelectionStatus:
    """status.selection of a QuantizedModel object (or a bare status), or a CommandError naming the source."""
    if obj.get("kind") not in (None, KIND):
        raise CommandError(f"{source}: kind {obj.get('kind')!r} is not a {KIND}")
    status = obj.get("status", obj)
    raw = status.get("selection") if isinstance(status, Mapping) else None
    if raw is None:
        raise CommandError(
            f"{source} has no status.selection: it is not a `method: auto` QuantizedModel, or its selection has "
            "not started yet (kubectl get qm shows its phase)"
        )
    try:
        return SelectionStatus.model_validate(raw)
    except ValidationError as exc:
        raise CommandError(f"{source}: status.selection is malformed ({exc.error_count()} problem(s))") from None


def limits_of(obj: Mapping[str, Any]) -> Limits:
    """The SLO, allowed drop, baseline number and confidence of spec.validation (defaults where unset).

    A spec that does not parse (a hand-edited file) yields no limits: the plots then say what is missing."""
    spec = obj.get("spec")
    raw = spec.get("validation", {}) if isinstance(spec, Mapping) else None
    try:
        v = Validation.model_validate(raw) if isinstance(raw, Mapping) else None
    except ValidationError:
        v = None
    if v is None:
        return Limits()
    return Limits(
        slo_ms=v.slo.p95_latency_ms,
        max_drop=v.baseline.max_accuracy_drop,
        baseline_accuracy=v.baseline.accuracy,
        confidence=v.confidence,
    )


def load_file(path: Path) -> SelectionStatus:
    """A QuantizedModel saved with `kubectl get qm NAME -o yaml` (or json), read with a size cap."""
    return selection_of(load_object(path), str(path))


def load_object(path: Path) -> Mapping[str, Any]:
    """The object of a saved QuantizedModel file, read with a size cap."""
    with path.open("rb") as f:
        data = f.read(MAX_OBJECT_BYTES + 1)
    if len(data) > MAX_OBJECT_BYTES:
        raise CommandError(f"{path}: larger than {MAX_OBJECT_BYTES} bytes, not a QuantizedModel")
    try:
        obj = yaml.safe_load(data)
    except yaml.YAMLError:
        raise CommandError(f"{path}: neither JSON nor YAML") from None
    if not isinstance(obj, Mapping):
        raise CommandError(f"{path}: not an object")
    return obj


def is_selection_file(path: Path) -> bool:
    """A saved QuantizedModel rather than a validation report (those are JSON with a schema field)."""
    try:
        with path.open("rb") as f:
            head = f.read(64 * 1024).decode("utf-8", "replace")
    except OSError:
        return False
    return re.search(rf"(^|[{{,])\s*\"?kind\"?\s*:\s*\"?{KIND}\b", head, re.MULTILINE) is not None


def fetch_live(namespace: str, name: str, timeout: float, kubeconfig: str | None = None) -> dict[str, Any]:
    """GET the QuantizedModel through the Kubernetes API: kubeconfig (or in-cluster), a deadline, a size cap."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    api_client = _api_client(config, kubeconfig)
    api = client.CustomObjectsApi(api_client)
    where = f"{KIND} {namespace}/{name}"
    try:
        resp = api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, _preload_content=False, _request_timeout=timeout
        )
        data = cast(Any, resp).read(MAX_OBJECT_BYTES + 1)  # urllib3's response: _preload_content=False
    except ApiException as exc:
        raise CommandError(_api_error(exc.status, where, namespace)) from None
    except HTTPError as exc:
        host = api_client.configuration.host
        raise CommandError(
            f"cannot reach the API server at {host} within {timeout:g}s ({type(exc).__name__})"
        ) from None
    finally:
        api_client.close()
    if len(data) > MAX_OBJECT_BYTES:
        raise CommandError(f"{where}: the answer is larger than {MAX_OBJECT_BYTES} bytes: not a QuantizedModel")
    try:
        obj = json.loads(data)
    except ValueError:
        raise CommandError(f"{where}: the API server's answer is not JSON") from None
    if not isinstance(obj, dict):
        raise CommandError(f"{where}: the API server's answer is not an object")
    return obj


def _api_client(config: Any, kubeconfig: str | None) -> Any:
    try:
        return config.new_client_from_config(config_file=kubeconfig)
    except (config.ConfigException, OSError, TypeError):
        pass
    try:
        config.load_incluster_config()
    except config.ConfigException:
        raise CommandError(
            "no Kubernetes configuration: set KUBECONFIG (or --kubeconfig), or run inside the cluster"
        ) from None
    from kubernetes import client

    return client.ApiClient()


def _api_error(status: int | None, where: str, namespace: str) -> str:
    if status == 404:
        return f"{where} not found (kubectl get qm -n {namespace} lists them)"
    if status in (401, 403):
        return f"the API server refused (HTTP {status}): these credentials may not get quantizedmodels in {namespace}"
    return f"the API server answered HTTP {status} for {where}"


def render(sel: SelectionStatus) -> str:
    rows = [row_cells(r, sel.winner) for r in sel.candidates]
    return "\n".join([render_table(HEADER, rows), "", *summary_lines(sel)])


def write_plots(sel: SelectionStatus, limits: Limits, directory: Path) -> list[Path]:
    """The two plots of a selection, or a one-line error (too many rows to draw, a directory not writable)."""
    if len(sel.candidates) > MAX_PLOTTED_ROWS:
        raise CommandError(
            f"status.selection has {len(sel.candidates)} candidates; the plots draw at most {MAX_PLOTTED_ROWS}"
        )
    from .selection_plots import selection_plots

    try:
        return selection_plots(sel, limits, directory)
    except OSError as exc:
        raise CommandError(f"cannot write plots to {directory}: {exc.strerror or exc}") from None


def report_selection(args: argparse.Namespace) -> int | None:
    """`quantop report` for `qm/NAME` or saved QuantizedModels; None when the sources are validation reports."""
    sources = [str(p) for p in args.reports]
    live = [s for s in sources if is_live_ref(s)]
    if not live and not any(is_selection_file(Path(s)) for s in sources):
        return None
    if len(sources) != 1:
        raise CommandError("give one qm/NAME or one saved QuantizedModel at a time")
    if live:
        namespace, name = parse_ref(live[0], args.namespace)
        source = f"qm {namespace}/{name}"
        obj: Mapping[str, Any] = fetch_live(namespace, name, args.request_timeout, args.kubeconfig)
    else:
        source, obj = sources[0], load_object(Path(sources[0]))
    sel = selection_of(obj, source)
    if args.format == "json":
        print(json.dumps(sel.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2))
    else:
        print(render(sel))
    if args.plots:
        for png in write_plots(sel, limits_of(obj), args.plots):
            # stdout stays the JSON document when --format json asked for one
            print(f"wrote {png}", file=sys.stderr if args.format == "json" else sys.stdout)
    return 0
