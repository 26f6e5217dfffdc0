"""`quantop emulate-tgi`: serve the TGI emulator on 127.0.0.1."""

from __future__ import annotations

import argparse

from quantop.api.command_errors import CommandError

from .profiles import Profile, profile_named, profile_names


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("emulate-tgi", help="serve a TGI-compatible emulator with a calibrated profile")
    p.add_argument("--port", type=int, default=3000, help="port on --host (default 3000, TGI's default)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--profile", default="a10-default", help="GPU-METHOD, e.g. a10-eetq; --list-profiles shows all")
    p.add_argument("--model-id", default="microsoft/Phi-3.5-mini-instruct", help="reported by /info")
    p.add_argument("--max-concurrent-requests", type=int, default=128, help="beyond it: 429, as TGI")
    p.add_argument("--max-input-tokens", type=int, default=1024)
    p.add_argument("--max-total-tokens", type=int, default=2048)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a profile field (latency_scale, accuracy, error_rate, error_kinds, max_batch_size, ...)",
    )
    p.add_argument("--list-profiles", action="store_true", help="print the profile names and exit")
    p.set_defaults(func=run)


def chosen_profile(args: argparse.Namespace) -> Profile | None:
    """--profile with its --set overrides, for both engines' emulators; None after --list-profiles printed them.

    A bad name or override is a CommandError: one line naming the command typed (emulate or emulate-tgi)."""
    if args.list_profiles:
        print("\n".join(profile_names()))
        return None
    try:
        overrides = dict(item.split("=", 1) for item in args.set)
        return profile_named(args.profile).override(overrides)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .server import Emulator

    profile = chosen_profile(args)
    if profile is None:
        return 0
    emulator = Emulator(
        profile,
        model_id=args.model_id,
        max_concurrent_requests=args.max_concurrent_requests,
        max_input_tokens=args.max_input_tokens,
        max_total_tokens=args.max_total_tokens,
    )
    print(f"TGI emulator {profile.name} on http://{args.host}:{args.port}", flush=True)
    web.run_app(emulator.app(), host=args.host, port=args.port, print=None, access_log=None)
    return 0
