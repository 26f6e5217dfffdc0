"""`quantop emulate --engine tgi|vllm`: serve an engine emulator on 127.0.0.1 (`emulate-tgi` stays as an alias)."""

from __future__ import annotations

import argparse

#: Each engine's own default port: TGI's launcher 3000, vLLM's OpenAI server 8000.
DEFAULT_PORTS = {"tgi": 3000, "vllm": 8000}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("emulate", help="serve a TGI- or vLLM-compatible emulator with a calibrated profile")
    p.add_argument("--engine", choices=sorted(DEFAULT_PORTS), default="tgi", help="which server to emulate")
    p.add_argument("--port", type=int, help="port on --host (default: 3000 for tgi, 8000 for vllm)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--profile", default="a10-default", help="GPU-METHOD, e.g. a10-eetq; --list-profiles shows all")
    p.add_argument("--model-id", default="microsoft/Phi-3.5-mini-instruct", help="the served model's name")
    p.add_argument("--max-concurrent-requests", type=int, default=128, help="tgi: beyond it 429, as TGI")
    p.add_argument("--max-input-tokens", type=int, default=1024, help="tgi: --max-input-tokens")
    p.add_argument("--max-total-tokens", type=int, default=2048, help="tgi --max-total-tokens, vllm --max-model-len")
    p.add_argument("--max-num-seqs", type=int, default=256, help="vllm: sequences per batch; beyond them requests wait")
    p.add_argument("--kv-cache-tokens", type=int, default=65536, help="vllm: KV-cache capacity behind its usage gauge")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a profile field")
    p.add_argument("--list-profiles", action="store_true", help="print the profile names and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.port is None:
        args.port = DEFAULT_PORTS[args.engine]
    if args.engine == "tgi":
        from .tgi_emulator.commands import run as run_tgi

        return run_tgi(args)
    return _run_vllm(args)


def _run_vllm(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .tgi_emulator.commands import chosen_profile
    from .vllm_emulator import VllmEmulator

    profile = chosen_profile(args)
    if profile is None:
        return 0
    emulator = VllmEmulator(
        profile,
        model_id=args.model_id,
        max_model_len=args.max_total_tokens,
        max_num_seqs=args.max_num_seqs,
        kv_tokens=args.kv_cache_tokens,
    )
    print(f"vLLM emulator {profile.name} on http://{args.host}:{args.port}", flush=True)
    web.run_app(emulator.app(), host=args.host, port=args.port, print=None, access_log=None)
    return 0
