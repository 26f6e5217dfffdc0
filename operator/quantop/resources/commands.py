"""`quantop render -f qm.yaml`: the manifests the operator would create, or the error its status would show."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from quantop.api import KIND, OperatorConfig, SpecError, default_config, parse_spec
from quantop.api.command_errors import fail
from quantop.planning import Level, PlanningError, plan_spec, resolve_architecture, resolve_gpu

from .context import UnknownGpuProfile, make_context

PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("render", help="print the manifests the operator would create for a QuantizedModel")
    p.add_argument("-f", "--filename", required=True, help="QuantizedModel YAML (multi-document allowed; - for stdin)")
    p.add_argument("--config", help="operator config YAML with gpuProfiles (default: the packaged one)")
    p.add_argument("--stable-revision", help="render the stable Service pointing at this revision")
    p.add_argument("--no-pod-monitor", action="store_true", help="omit the PodMonitor (no Prometheus Operator)")
    p.add_argument("--hub-url", default="https://huggingface.co", help="where to fetch config.json of unknown models")
    p.set_defaults(func=run)


def render_one(doc: dict[str, Any], config: OperatorConfig, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Manifests for one QuantizedModel; raises SpecError/PlanningError with the status message."""
    from . import build_all

    meta = doc.get("metadata") or {}
    spec = parse_spec(doc.get("spec"))
    ctx = make_context(
        meta.get("name", "unnamed"), meta.get("namespace", "default"), meta.get("uid", PLACEHOLDER_UID), spec, config
    )
    resolve_gpu(ctx.profile)
    assessment = plan_spec(spec, ctx.profile, resolve_architecture(spec.model, hub_url=args.hub_url))
    if assessment.level == Level.NO:
        raise PlanningError(assessment.reason, assessment.message)
    if assessment.level == Level.WARN:
        print(f"# warning ({assessment.reason}): {assessment.message}", file=sys.stderr)
    return build_all(ctx, args.stable_revision, pod_monitor=not args.no_pod_monitor)


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
        except UnknownGpuProfile as exc:
            fail("render", f"{name}: UnknownGPUType: {exc}")
            failed = True
        except SpecError as exc:
            fail("render", f"{name}: InvalidSpec: {exc}")
            failed = True
        except PlanningError as exc:
            fail("render", f"{name}: {exc.reason}: {exc.message}")
            failed = True
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))
    return 2 if failed else 0
