"""`quantop plan --model ID --gpu TYPE`: every TGI method on that GPU, with the reason, memory and recommendation."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from quantop.api import GpuProfile, Objective, OperatorConfig, default_config
from quantop.api.spec import ModelSource

from .catalog import GPU_CATALOG, GpuSpec, PlanningError, resolve_gpu
from .models import resolve_architecture
from .plan import MethodAssessment, assess_all, recommend


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plan", help="every quantization method for a model on a GPU: compatibility, memory, speed")
    p.add_argument("--model", required=True, help="Hugging Face model id")
    p.add_argument(
        "--gpu", required=True, help="GPU profile name (operator config) or catalog name: " + ", ".join(GPU_CATALOG)
    )
    p.add_argument("--count", type=int, default=1, help="GPUs per replica")
    p.add_argument("--max-total-tokens", type=int, default=2048)
    p.add_argument("--kv-tokens", type=int, help="KV-cache tokens to reserve (default: maxTotalTokens x 4)")
    p.add_argument("--config", help="operator config YAML with gpuProfiles (default: the packaged one)")
    p.add_argument("--hub-url", default="https://huggingface.co", help="where config.json of unknown models is fetched")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def _gpu(name: str, config: OperatorConfig) -> GpuSpec:
    profile = config.gpu_profiles.get(name)
    if profile is not None:
        return resolve_gpu(profile)
    if name in GPU_CATALOG:
        return resolve_gpu(GpuProfile(gpu=name))
    known = ", ".join(sorted(set(config.gpu_profiles) | set(GPU_CATALOG)))
    raise PlanningError(
        "UnknownGPUType", f"--gpu {name!r} is neither a GPU profile nor a catalog GPU: use one of {known}"
    )


def _row(a: MethodAssessment) -> dict[str, object]:
    return {
        "method": a.method.value,
        "level": a.level.value,
        "reason": a.reason,
        "message": a.message,
        "bits": a.bits,
        "weightsGiB": a.weights_gib,
        "kvCacheGiB": a.kv_cache_gib,
        "overheadGiB": a.overhead_gib,
        "gpuMemoryGiB": a.gpu_memory_gib,
        "fits": a.fits,
        "relativeSpeed": a.relative_speed,
    }


def run(args: argparse.Namespace) -> int:
    try:
        config = OperatorConfig.load(args.config) if args.config else default_config()
        gpu = _gpu(args.gpu, config)
        model = resolve_architecture(ModelSource(id=args.model), hub_url=args.hub_url)
    except PlanningError as exc:
        print(f"error: {exc.reason}: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.count < 1:
        print("error: --count must be at least 1", file=sys.stderr)
        return 2
    rows = assess_all(
        model, gpu, gpu_count=args.count, max_total_tokens=args.max_total_tokens, kv_tokens=args.kv_tokens
    )
    recs = {o.value: (r.method.value if (r := recommend(rows, o)) else None) for o in Objective}
    if args.output == "json":
        out = {
            "model": model.id,
            "gpu": gpu.name,
            "count": args.count,
            "methods": [_row(a) for a in rows],
            "recommendation": recs,
        }
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"{model.id} ({model.parameters_billions:g}B, from {model.source}) on {args.count}x {gpu.product} "
        f"({gpu.memory_gib:g} GiB, compute capability {gpu.cc:.1f}, ${gpu.price_per_hour:g}/h)\n"
    )
    print(f"{'':2} {'method':<19} {'weights':>8} {'KV':>6} {'need/GPU GiB':>13} {'fits':>4} {'speed':>6}  why")
    for a in rows:
        need = a.weights_gib + a.kv_cache_gib + a.overhead_gib
        speed = f"{a.relative_speed:.1f}x" if a.relative_speed else "-"
        lines = textwrap.wrap(a.message, 90) or [""]
        print(
            f"{a.level.icon:<2} {a.method.value:<19} {a.weights_gib:>8.1f} {a.kv_cache_gib:>6.1f} "
            f"{need:>6.1f}/{a.gpu_memory_gib:<6.0f} {'yes' if a.fits else 'no':>4} {speed:>6}  {lines[0]}"
        )
        for line in lines[1:]:
            print(f"{'':66}{line}")
    print("\nrecommendation (the guide's decision matrix, among methods that run and fit):")
    for objective, method in recs.items():
        print(f"  {objective:<8} {method or 'none fits: use a larger GPU or more GPUs'}")
    return 0
