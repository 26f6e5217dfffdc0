"""`quantop validate` (load + accuracy + gates against one endpoint) and `quantop report`.

Exit codes are the contract with the operator's Job and with CI scripts: 0 every gate
passed, 1 a gate failed (the message says which and by how much), 2 the validation could not
run (bad flag, bad dataset, endpoint unreachable). User error never ends in a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    v = sub.add_parser(
        "validate",
        help="load-test and measure accuracy of a TGI endpoint; gate on SLOs; write a report",
        description="Exit 0: every gate passed. Exit 1: a gate failed. Exit 2: could not run.",
    )
    target = v.add_argument_group("target")
    target.add_argument("--endpoint", required=True, help="TGI base URL, e.g. http://127.0.0.1:3000")
    target.add_argument("--label", default="candidate", help="configuration name in tables (e.g. the method)")
    target.add_argument("--revision", help="revision the results belong to")
    target.add_argument("--ready-timeout", default="60s", help="how long to wait for /health to answer 200")
    target.add_argument("--api", choices=["generate", "chat"], default="generate", help="TGI route for the load")
    load = v.add_argument_group("load (locust)")
    load.add_argument("--users", type=int, default=100, help="concurrent streaming users (0: skip the load test)")
    load.add_argument("--duration", default="5m", help="measured window after warm-up (e.g. 60s, 5m)")
    load.add_argument("--warmup", default="30s", help="excluded from the figures")
    load.add_argument("--max-new-tokens", type=int, default=128)
    load.add_argument("--workers", type=int, default=1, help="locust worker processes (distributed mode when > 1)")
    acc = v.add_argument_group("accuracy")
    acc.add_argument("--dataset", default="builtin:text-to-sql", help="builtin:NAME, a .jsonl/.json/.csv path or URL")
    acc.add_argument(
        "--field-map", action="append", default=[], metavar="FIELD=COLUMN", help="e.g. sql_prompt=question"
    )
    acc.add_argument(
        "--metric",
        default="execution-accuracy",
        choices=["execution-accuracy", "exact-match", "exact", "contains", "regex"],
    )
    acc.add_argument("--samples", type=int, default=200, help="examples scored (0: skip accuracy)")
    acc.add_argument("--accuracy-concurrency", type=int, default=8)
    acc.add_argument("--accuracy-max-new-tokens", type=int, default=256)
    acc.add_argument("--seed", type=int, default=0, help="which examples are drawn")
    gates = v.add_argument_group("gates (unset: not gated)")
    gates.add_argument("--slo-p95-ms", type=float)
    gates.add_argument("--slo-p99-ms", type=float)
    gates.add_argument("--slo-ttft-p95-ms", type=float)
    gates.add_argument("--slo-min-rps", type=float)
    gates.add_argument("--slo-max-error-rate", type=float)
    gates.add_argument("--min-accuracy", type=float)
    gates.add_argument("--baseline-accuracy", type=float)
    gates.add_argument("--max-accuracy-drop", type=float, default=0.01)
    cost = v.add_argument_group("cost and comparison")
    cost.add_argument("--gpu-price-per-hour", type=float, help="USD per GPU-hour")
    cost.add_argument("--replicas", type=int, default=1)
    cost.add_argument("--gpu-count", type=int, default=1, help="GPUs per replica")
    cost.add_argument("--weights-gib", type=float, help="weight memory of this configuration (planner's figure)")
    cost.add_argument("--baseline-report", type=Path, help="a report of the baseline: size reduction, speed-up, cost")
    out = v.add_argument_group("output")
    out.add_argument("--out-dir", type=Path, help="report, samples and plots (default ./quantop-validation-LABEL)")
    out.add_argument(
        "--termination-log", type=Path, help="write the compact result here (in a Job: /dev/termination-log)"
    )
    out.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
    out.add_argument("--no-plots", action="store_true")
    v.set_defaults(func=_validate)

    r = sub.add_parser("report", help="the guide's comparison table from several validation reports")
    r.add_argument("reports", nargs="+", type=Path, help="report JSON files (from quantop validate)")
    r.add_argument("--baseline", help="label of the baseline report (default: the first)")
    r.add_argument("--plots", type=Path, help="directory for latency-cdf.png and latency-vs-accuracy.png")
    r.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    r.set_defaults(func=_report)


def _validate(args: argparse.Namespace) -> int:
    from .pipeline import run_validation

    return run_validation(args)


def _report(args: argparse.Namespace) -> int:
    import json

    from .report import TABLE_HEADER, comparison_rows, load_report, render_table

    reports = []
    for path in args.reports:
        try:
            reports.append(load_report(path.read_text(), str(path)))
        except (OSError, ValueError) as exc:
            print(f"quantop report: {exc}", file=sys.stderr)
            return EXIT_ERROR
    labels = [r.label for r in reports]
    if args.baseline and args.baseline not in labels:
        print(f"quantop report: no report labelled {args.baseline!r}; labels: {', '.join(labels)}", file=sys.stderr)
        return EXIT_ERROR
    baseline = next(r for r in reports if r.label == (args.baseline or labels[0]))
    rows = comparison_rows(reports, baseline)
    if args.format == "json":
        print(json.dumps([dict(zip(TABLE_HEADER, row, strict=True)) for row in rows], indent=2))
    else:
        print(render_table(TABLE_HEADER, rows))
        print(f"\nratios against {baseline.label}, the baseline measured in the same way")
    if args.plots:
        from .plots import latency_cdf, latency_vs_accuracy

        args.plots.mkdir(parents=True, exist_ok=True)
        for png in (
            latency_cdf(reports, args.plots / "latency-cdf.png"),
            latency_vs_accuracy(reports, args.plots / "latency-vs-accuracy.png"),
        ):
            print(f"wrote {png}")
    return EXIT_PASSED
