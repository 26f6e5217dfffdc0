"""`quantop sandbox`: an embedded cluster with the operator and emulated TGI, for demos and e2e tests."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sandbox", help="run an embedded cluster (emulated API server, operator, emulated TGI)")
    p.add_argument("--port", type=int, default=0, help="API server port on 127.0.0.1 (default: a free one)")
    p.add_argument("--workdir", default=".sandbox", help="kubeconfig, logs, reports and services.json go here")
    p.add_argument("--config", help="operator config YAML (the file the Helm chart mounts)")
    p.add_argument("-f", "--filename", action="append", default=[], help="apply these manifests after start")
    p.set_defaults(func=run)


async def _main(args: argparse.Namespace) -> int:
    import yaml

    from quantop.api import OperatorConfig
    from quantop.api.command_errors import checked

    from .runner import sandbox

    if args.config:  # fail before starting anything, in the operator's own words
        checked(OperatorConfig.load, args.config, f"--config {args.config}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sandbox(Path(args.workdir), port=args.port, config=args.config) as sb:
        for path in args.filename:
            for doc in yaml.safe_load_all(Path(path).read_text()):
                if doc:
                    await sb.cluster.create(doc)
        print(f"sandbox API server: {sb.cluster.api.url}")
        print(f"export KUBECONFIG={sb.kubeconfig.resolve()}")
        print("then: kubectl apply -f examples/guide-a10/ && kubectl get qm -A -w")
        print("Ctrl-C stops everything.", flush=True)
        await stop.wait()
    return 0


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_main(args))
    return 130
