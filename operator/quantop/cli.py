"""The `quantop` command. Each subpackage owns its subcommands in a `commands` module that
exposes ``register(subparsers)``; this file only wires them together, so the CLI never grows
logic of its own and importing one command does not import the others' dependencies
(locust, for instance, monkey-patches the process with gevent on import).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .api.command_errors import CommandError, fail

#: (subcommand names, module that registers them). Modules are imported only when needed.
COMMAND_MODULES: list[tuple[tuple[str, ...], str]] = [
    (("crd",), "quantop.api.commands"),
    (("plan",), "quantop.planning.commands"),
    (("render",), "quantop.resources.commands"),
    (("run",), "quantop.controller.commands"),
    (("validate", "report"), "quantop.validation.commands"),
    (("emulate-tgi",), "quantop.sandbox.tgi_emulator.commands"),
    (("emulate",), "quantop.sandbox.emulate"),
    (("sandbox",), "quantop.sandbox.commands"),
]


def _parser(only: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantop",
        description="Serve quantized LLMs with TGI; promote them only after load and accuracy validation.",
    )
    parser.add_argument("--version", action="version", version=f"quantop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for names, module_name in COMMAND_MODULES:
        if only is not None and only not in names:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # a subpackage not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Import only the module of the command asked for (`quantop validate` must not import kopf).
    first = next((a for a in args_list if not a.startswith("-")), None)
    known = {n for names, _ in COMMAND_MODULES for n in names}
    parser = _parser(first if first in known else None)
    args = parser.parse_args(args_list)
    try:
        code: int = args.func(args)
    except CommandError as exc:
        return fail(args.command, str(exc), exc.code)
    except OSError as exc:  # a file, port or address the user named: say which, not a traceback
        return fail(args.command, str(exc))
    return code


if __name__ == "__main__":
    sys.exit(main())
