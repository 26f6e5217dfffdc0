"""`quantop validate` (load + accuracy + gates against one endpoint) and `quantop report`.

Exit codes are the contract with the operator's Job and with CI scripts: 0 every gate
passed, 1 a gate failed (the message says which and by how much), 2 the validation could not
run (bad flag, bad dataset, endpoint unreachable). User error never ends in a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .request_cli import RequestError, add_request_arguments, cost_epilog, raw_revision, request_from_args

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    v = sub.add_parser(
        "validate",
        help="load-test and measure accuracy of a TGI endpoint; gate on SLOs; write a report",
        description=(
            "Exit 0: every gate passed. Exit 1: a gate failed. Exit 2: could not run. "
            "The flags are the fields of a ValidationRequest (docs/validation.md); the defaults are "
            "those of a QuantizedModel's spec.validation, so a run here checks what the operator's Job checks."
        ),
        epilog=cost_epilog(),
    )
    add_request_arguments(v)
    cmp = v.add_argument_group("comparison")
    cmp.add_argument("--baseline-report", type=Path, help="a report of the baseline: size reduction, speed-up, cost")
    out = v.add_argument_group("output")
    out.add_argument("--out-dir", type=Path, help="report, samples and plots (default ./quantop-validation-LABEL)")
    out.add_argument(
        "--termination-log", type=Path, help="write the compact result here (in a Job: /dev/termination-log)"
    )
    out.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
    out.add_argument("--no-plots", action="store_true")
    v.set_defaults(func=_validate)

    r = sub.add_parser("report", help="the guide's comparison table from validation reports or a method: auto model")
    r.add_argument(
        "reports", nargs="+", type=Path, help="report JSON files (quantop validate), qm/NAME, or a saved QuantizedModel"
    )
    live = r.add_argument_group("a method: auto QuantizedModel (docs/selection.md)")
    live.add_argument("-n", "--namespace", default="default", help="namespace of qm/NAME")
    live.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
    live.add_argument("--request-timeout", type=float, default=10.0, help="seconds for the API request")
    r.add_argument("--baseline", help="label of the baseline report (default: the first)")
    r.add_argument(
        "--plots",
        type=Path,
        help="directory for latency-cdf.png (a selection: latency-quantiles.png) and slo-and-accuracy.png",
    )
    r.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    r.set_defaults(func=_report)


def _validate(args: argparse.Namespace) -> int:
    from .pipeline import Output, fail, run_validation

    output = Output(
        out_dir=args.out_dir,
        termination_log=args.termination_log,
        progress=not args.no_progress,
        plots=not args.no_plots,
        baseline_report=args.baseline_report,
    )
    try:
        request = request_from_args(args)
    except RequestError as exc:
        return fail(output, raw_revision(args), str(exc))
    return run_validation(request, output)


def _report(args: argparse.Namespace) -> int:
    import json

    from .report import TABLE_HEADER, comparison_rows, load_report, render_table
    from .selection_report import report_selection

    if (selection := report_selection(args)) is not None:
        return selection
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
        from .plots import decision_plot, latency_cdf

        args.plots.mkdir(parents=True, exist_ok=True)
        for png in (
            latency_cdf(reports, args.plots / "latency-cdf.png"),
            decision_plot(reports, args.plots / "slo-and-accuracy.png", baseline=baseline),
        ):
            print(f"wrote {png}", file=sys.stderr if args.format == "json" else sys.stdout)
    return EXIT_PASSED
