"""`quantop run`: the operator process (what the container runs)."""

from __future__ import annotations

import argparse
import logging
import os
import time


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the operator")
    p.add_argument("--config", default=os.environ.get("QUANTOP_CONFIG"), help="operator config YAML (GPU profiles)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    p.add_argument("--metrics-port", type=int, default=8080, help="port of the quantop_* metrics endpoint (0: off)")
    p.add_argument("--health-port", type=int, default=8081, help="port of the liveness endpoint /healthz (0: off)")
    peering = p.add_mutually_exclusive_group()
    peering.add_argument("--peering", default=None, help="kopf peering name, for several replicas (leader election)")
    peering.add_argument("--standalone", action="store_true", help="no peering (a single replica)")
    p.add_argument(
        "--priority",
        type=int,
        default=None,
        help="kopf peering priority; default: older replicas win (negated start time), so one always leads",
    )
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import kopf

    if args.config:
        os.environ["QUANTOP_CONFIG"] = args.config
        from quantop.api import OperatorConfig
        from quantop.api.command_errors import checked

        checked(OperatorConfig.load, args.config, f"--config {args.config}")  # fail fast, one line, on a bad file
    os.environ["QUANTOP_METRICS_PORT"] = str(args.metrics_port)
    os.environ["QUANTOP_WATCH_NAMESPACES"] = ",".join(args.namespace)  # the resync cache watches the same
    from . import handlers  # noqa: F401 - registers the handlers

    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.FULL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    liveness = f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        standalone=args.standalone or args.peering is None,
        peering_name=args.peering,
        # Equal priorities make every replica pause; a unique one per start elects the oldest.
        priority=args.priority if args.priority is not None else -int(time.time() * 1000),
        liveness_endpoint=liveness,
    )
    return 0
