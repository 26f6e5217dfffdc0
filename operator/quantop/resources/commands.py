"""`quantop render -f qm.yaml`: the manifests the operator would create, or the error its status would show.

Render admits an object through the operator's own admission (admission.py) and builds with the
operator's own builders, so what it prints is what the operator applies, and what it refuses the
operator refuses with the same reason and message. The validation Job is the one the operator
creates once the revision's pods are available.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

import yaml

from quantop.api import KIND, OperatorConfig, default_config, format_duration
from quantop.api.command_errors import fail
from quantop.planning import resolve_architecture

from . import build_all
from .admission import Admission, Refusal, admit
from .job import build_validation_job, validation_request


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "render",
        help="print the manifests the operator would create for a QuantizedModel, validation Job included",
    )
    p.add_argument("-f", "--filename", required=True, help="QuantizedModel YAML (multi-document allowed; - for stdin)")
    p.add_argument("--config", help="operator config YAML with gpuProfiles (default: the packaged one)")
    p.add_argument("--stable-revision", help="render the stable Service pointing at this revision")
    p.add_argument("--no-pod-monitor", action="store_true", help="omit the PodMonitor (no Prometheus Operator)")
    p.add_argument("--no-job", action="store_true", help="omit the validation Job of the spec's revision")
    p.add_argument("--hub-url", default="https://huggingface.co", help="where to fetch config.json of unknown models")
    p.set_defaults(func=run)


class Refused(Exception):
    """The operator would refuse this object; the message is its Compatible condition, reason first."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.reason}: {refusal.message}")
        self.refusal = refusal


def _validation_job(admission: Admission) -> dict[str, Any]:
    """The Job the operator creates once the revision is available; a modelRef baseline is known only then."""
    ctx = admission.ctx
    baseline = ctx.spec.validation.baseline
    if baseline.model_ref:
        print(
            f"# note: {ctx.name}: the Job gets --baseline-accuracy from {baseline.model_ref}'s promoted results "
            "when the operator creates it; rendered without",
            file=sys.stderr,
        )
    request = validation_request(
        ctx, ctx.revision, baseline_accuracy=baseline.accuracy, price_per_hour=admission.price_per_hour
    )
    print(
        f"# {ctx.name}: validation takes about {format_duration(request.estimated_seconds())} once the pods are up "
        f"(an estimate, see quantop validate --help); the Job's deadline is {ctx.spec.validation.timeout}",
        file=sys.stderr,
    )
    return build_validation_job(
        ctx,
        ctx.revision,
        baseline_accuracy=baseline.accuracy,
        price_per_hour=admission.price_per_hour,
        weights_gib=admission.plan.weights_gi_b,
    )


def _say_selection(admission: Admission) -> None:
    """`method: auto` renders its first candidate: say so, with the order the rest would run in."""
    sel = admission.selection
    assert sel is not None
    order = ", ".join(r.label + (" (baseline)" if r.baseline else "") for r in sel.candidates if r.revision)
    refused = "; ".join(f"{r.label}: {r.reason}" for r in sel.candidates if r.revision is None)
    print(
        f"# {admission.ctx.name}: method auto runs a selection (objective {sel.objective}); rendered is its first "
        f"candidate, {admission.ctx.spec.quantization.method.value} on {admission.ctx.spec.gpu.type}. "
        f"Order: {order}" + (f". Refused: {refused}" if refused else ""),
        file=sys.stderr,
    )


def render_one(doc: dict[str, Any], config: OperatorConfig, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Manifests for one QuantizedModel, admitted as the operator admits it; raises Refused otherwise."""
    verdict = admit(doc, config, functools.partial(resolve_architecture, hub_url=args.hub_url))
    if isinstance(verdict, Refusal):
        raise Refused(verdict)
    if verdict.selection is not None:
        _say_selection(verdict)
    if verdict.caveat is not None:
        print(f"# warning ({verdict.assessment.reason}): {verdict.caveat}", file=sys.stderr)
    objects = build_all(verdict.ctx, args.stable_revision, pod_monitor=not args.no_pod_monitor)
    if not getattr(args, "no_job", False):
        objects.append(_validation_job(verdict))
    return objects


def run(args: argparse.Namespace) -> int:
    try:
        config = OperatorConfig.load(args.config) if args.config else default_config()
        if args.filename == "-":
            text = sys.stdin.read()
        else:
            with open(args.filename, encoding="utf-8") as f:
                text = f.read()
        docs = [d for d in yaml.safe_load_all(text) if d]
    except (OSError, yaml.YAMLError, ValueError) as exc:
        fail("render", f"cannot read input: {exc}")
        return 2
    models = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
    if not models:
        fail("render", f"{args.filename} holds no {KIND}")
        return 2
    failed = False
    out: list[dict[str, Any]] = []
    for doc in models:
        name = (doc.get("metadata") or {}).get("name", "?")
        try:
            out += render_one(doc, config, args)
        except Refused as exc:
            fail("render", f"{name}: {exc}")
            failed = True
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))
    return 2 if failed else 0
