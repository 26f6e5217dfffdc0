"""`quantop plan --model ID --gpu TYPE`: every TGI method on that GPU, with the reason, memory and recommendation.

Exit codes: 0 at least one method runs and fits, 1 none does (the table says why for each), 2 the
plan could not be made (unknown GPU or model, unreadable --config-json).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from quantop.api import GpuProfile, Objective, OperatorConfig, default_config
from quantop.api.command_errors import fail
from quantop.api.spec import ModelSource, VllmOptions

from .catalog import GPU_CATALOG, GpuSpec, PlanningError, resolve_gpu
from .models import ModelInfo, UnknownArchitecture, from_config_file, lookup_model, resolve_architecture
from .plan import MethodAssessment, assess_all, recommend
from .vllm_plan import VllmBudget, assess_all_vllm, recommend_vllm

COMMAND = "plan"
EXIT_NOTHING_FITS = 1
#: The table without --wide stays within this many columns; the why goes on its own lines.
WIDTH = 100
_INDENT = 5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="every quantization method for a model on a GPU: compatibility, memory, speed",
        description="Exit 0: a method runs and fits. Exit 1: none does. Exit 2: the plan could not be made.",
    )
    p.add_argument("--model", required=True, help="Hugging Face model id")
    p.add_argument(
        "--gpu", required=True, help="GPU profile name (operator config) or catalog name: " + ", ".join(GPU_CATALOG)
    )
    p.add_argument("--count", type=int, default=1, help="GPUs per replica (default 1)")
    p.add_argument("--engine", choices=["tgi", "vllm"], default="tgi", help="serving engine whose methods to plan")
    p.add_argument(
        "--gpu-memory-utilization",
        type=float,
        default=0.9,
        help="vllm: share of GPU memory vLLM preallocates (default 0.9)",
    )
    p.add_argument("--max-total-tokens", type=int, default=2048, help="default 2048")
    p.add_argument("--kv-tokens", type=int, help="KV-cache tokens to reserve (default: maxTotalTokens x 4)")
    p.add_argument("--config", help="operator config YAML with gpuProfiles (default: the packaged one)")
    p.add_argument(
        "--config-json",
        type=Path,
        metavar="FILE",
        help="the model's Hugging Face config.json, for a model quantop does not know, without network",
    )
    p.add_argument(
        "--hub-url",
        default="https://huggingface.co",
        help="where config.json of a model quantop does not know is fetched when --config-json is not given",
    )
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    p.add_argument("--wide", action="store_true", help="one line per method, the why in the last column")
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


def _model(args: argparse.Namespace) -> ModelInfo:
    """--config-json, else the built-in table, else the Hub (saying so first: it is a network call)."""
    source = ModelSource(id=args.model)
    if args.config_json is not None:
        return from_config_file(source, args.config_json)
    if lookup_model(args.model) is None:
        print(
            f"quantop plan: {args.model} is not in quantop's model table: fetching its config.json from "
            f"{args.hub_url} (offline: --config-json FILE)",
            file=sys.stderr,
        )
    return resolve_architecture(source, hub_url=args.hub_url)


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


def _wrap(text: str) -> list[str]:
    pad = " " * _INDENT
    return textwrap.wrap(text, WIDTH, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False)


def table_lines(rows: list[MethodAssessment], *, wide: bool = False) -> list[str]:
    """The methods table: the why on indented lines of its own (or, --wide, in a last column)."""
    head = f"   {'method':<19} {'weights':>7} {'KV':>5} {'need/GPU GiB':>13} {'fits':>4} {'speed':>5}"
    lines = [head + ("  why" if wide else "")]
    for a in rows:
        need = a.weights_gib + a.kv_cache_gib + a.overhead_gib
        speed = f"{a.relative_speed:.1f}x" if a.relative_speed is not None else "-"
        line = (
            f"{a.level.icon} {a.method.value:<19} {a.weights_gib:>7.1f} {a.kv_cache_gib:>5.1f} "
            f"{need:>6.1f}/{a.gpu_memory_gib:<6.0f} {'yes' if a.fits else 'no':>4} {speed:>5}"
        )
        if wide:
            lines.append(f"{line}  {a.message}")
        else:
            lines += [line, *_wrap(a.message)]
    return lines


def _print_table(model: ModelInfo, gpu: GpuSpec, count: int, rows: list[MethodAssessment], wide: bool) -> None:
    print(f"{model.id} ({model.parameters_billions:g}B, architecture from {model.source})")
    print(
        f"on {count}x {gpu.product}: {gpu.memory_gib:g} GiB, compute capability {gpu.cc:.1f}, ${gpu.price_per_hour:g}/h"
    )
    print("speed: median latency vs fp16 (the guide's A10 figures; native fp8 on 9.0+: see docs/planner.md)\n")
    print("\n".join(table_lines(rows, wide=wide)))


def _vllm_rows(
    args: argparse.Namespace, model: ModelInfo, gpu: GpuSpec
) -> tuple[list[MethodAssessment], dict[str, str | None]]:
    options = VllmOptions(gpu_memory_utilization=args.gpu_memory_utilization)
    rows = assess_all_vllm(model, VllmBudget(gpu, args.count, args.max_total_tokens, options))
    return rows, {o.value: (r.method.value if (r := recommend_vllm(rows, o)) else None) for o in Objective}


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        return fail(COMMAND, f"--count {args.count}: must be at least 1")
    if not 0 < args.gpu_memory_utilization <= 1:
        return fail(COMMAND, f"--gpu-memory-utilization {args.gpu_memory_utilization:g}: must be in (0, 1]")
    try:
        config = OperatorConfig.load(args.config) if args.config else default_config()
        gpu = _gpu(args.gpu, config)
        model = _model(args)
    except UnknownArchitecture as exc:
        return fail(
            COMMAND,
            f"{exc.reason}: architecture of {exc.model_id} is unknown ({exc.why}): "
            "pass --config-json FILE (the model's Hugging Face config.json)",
        )
    except PlanningError as exc:
        return fail(COMMAND, f"{exc.reason}: {exc.message}")
    except (OSError, ValueError) as exc:
        return fail(COMMAND, str(exc))
    if args.engine == "vllm":
        rows, recs = _vllm_rows(args, model, gpu)
    else:
        rows = assess_all(
            model, gpu, gpu_count=args.count, max_total_tokens=args.max_total_tokens, kv_tokens=args.kv_tokens
        )
        recs = {o.value: (r.method.value if (r := recommend(rows, o)) else None) for o in Objective}
    runs = any(a.usable for a in rows)
    if args.output == "json":
        out = {"model": model.id, "gpu": gpu.name, "count": args.count, "methods": [_row(a) for a in rows]}
        print(json.dumps({**out, "recommendation": recs}, indent=2))
    else:
        _print_table(model, gpu, args.count, rows, args.wide)
        if runs:
            print("\nrecommendation (the guide's decision matrix, among methods that run and fit):")
            for objective, method in recs.items():
                print(f"  {objective:<8} {method or 'none of its methods runs and fits here'}")
    if not runs:
        return fail(
            COMMAND,
            f"no method runs and fits {model.id} on {args.count}x {gpu.name}: use a larger GPU, more GPUs "
            "(--count) or a smaller --max-total-tokens",
            EXIT_NOTHING_FITS,
        )
    return 0
