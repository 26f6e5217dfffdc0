"""`quantop validate`'s request flags, generated from the ValidationRequest's fields, and parsed back into it.

A run's request comes from `--request FILE|JSON` (a ValidationRequest, camelCase), from flags, or
both: flags override the fields the request gives. Each flag's help shows the default the model
holds, so `--help`, the CLI and the operator's Job cannot disagree about a default.
"""

from __future__ import annotations

import argparse
import enum
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from quantop.api import format_duration
from quantop.api.validation_request import (
    TYPICAL_ACCURACY_REQUEST_SECONDS,
    RequestFlag,
    ValidationRequest,
    request_flags,
)

#: A request is a few hundred bytes; anything near this is not one.
MAX_REQUEST_BYTES = 1 << 20
DEST_PREFIX = "request__"

GROUP_TITLES = {
    "": "target",
    "load": "load (locust)",
    "accuracy": "accuracy",
    "gates": "gates",
    "cost": "cost",
    "to_beat": "selection (not a gate: stop a candidate that cannot win)",
}


class RequestError(ValueError):
    """The request cannot be built; ``str()`` is one line that says what to fix."""


def _base_type(annotation: Any) -> Any:
    """int, float, str, an Enum, a Literal or dict, without Optional and Annotated wrappers."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _base_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(inner)
    return annotation


def _argument_options(f: RequestFlag) -> dict[str, Any]:
    base = _base_type(f.info.annotation)
    options: dict[str, Any] = {  # SUPPRESS: only flags given override --request
        "dest": DEST_PREFIX + "__".join(f.path),
        "default": argparse.SUPPRESS,
        "help": f"{f.flag.help} (default: {f.default_text()})",
    }
    if typing.get_origin(base) is typing.Literal:
        options["choices"] = list(typing.get_args(base))
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        options["choices"] = [m.value for m in base]
    elif typing.get_origin(base) is dict:
        options["action"] = "append"
    elif base in (int, float):
        options["type"] = base
    if "choices" not in options:
        options["metavar"] = f.flag.metavar or f.flag.name.lstrip("-").upper().replace("-", "_")
    return options


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """`--request` and one flag per request field, grouped as the model is."""
    groups = {key: parser.add_argument_group(title) for key, title in GROUP_TITLES.items()}
    groups[""].add_argument(
        "--request",
        metavar="FILE|JSON",
        help="a ValidationRequest (camelCase JSON, as the operator's Job carries it); flags override its fields",
    )
    for f in request_flags():
        groups[f.group].add_argument(f.flag.name, **_argument_options(f))


def cost_epilog() -> str:
    """What a run with the defaults costs in time, and how to work it out for other settings."""
    example = ValidationRequest(endpoint="http://127.0.0.1:3000")
    return (
        "Time a run takes (an estimate): warm-up + duration + ceil(samples / accuracy-concurrency) x "
        f"~{TYPICAL_ACCURACY_REQUEST_SECONDS:g} s (a typical accuracy request, Phi-3.5-mini on an A10; slower "
        "GPUs and longer answers take longer), plus the wait for /health. With the defaults: "
        f"{example.load.warmup} + {example.load.duration} + "
        f"{math.ceil(example.accuracy.samples / example.accuracy.concurrency)} x {TYPICAL_ACCURACY_REQUEST_SECONDS:g} s "
        f"= about {format_duration(example.estimated_seconds())}."
    )


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        node = tree.get(part)
        if not isinstance(node, dict):
            node = tree[part] = {}
        tree = node
    tree[path[-1]] = value


def _field_map(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        key, sep, column = item.partition("=")
        if not sep or not key or not column:
            raise RequestError(f"--field-map {item!r}: use QUANTOP_FIELD=COLUMN, e.g. sql_prompt=question")
        mapping[key] = column
    return mapping


def _base_request(source: str | None) -> dict[str, Any]:
    """The `--request` value: inline JSON when it starts with `{`, else a file; size-capped, one-line errors."""
    if not source:
        return {}
    text = source
    if source.lstrip()[:1] not in ("{", "[", '"'):  # inline JSON; anything else names a file
        try:
            with Path(source).open("rb") as f:
                raw = f.read(MAX_REQUEST_BYTES + 1)
        except OSError as exc:
            raise RequestError(f"--request {source}: cannot read it ({exc.strerror or exc})") from None
        if len(raw) > MAX_REQUEST_BYTES:
            raise RequestError(f"--request {source}: larger than {MAX_REQUEST_BYTES} bytes, not a request")
        text = raw.decode("utf-8", errors="replace")
    elif len(source) > MAX_REQUEST_BYTES:
        raise RequestError(f"--request: larger than {MAX_REQUEST_BYTES} bytes, not a request")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"--request: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, dict):
        raise RequestError(f"--request: a JSON object is needed, not {type(data).__name__}")
    return data


def request_from_args(args: argparse.Namespace) -> ValidationRequest:
    """The request the flags (over `--request`) describe; RequestError says what to fix."""
    tree = _base_request(getattr(args, "request", None))
    given = vars(args)
    for f in request_flags():
        dest = DEST_PREFIX + "__".join(f.path)
        if dest in given:
            value = given[dest]
            _set(tree, f.alias_path, _field_map(value) if f.flag.metavar == "FIELD=COLUMN" else value)
    try:
        return ValidationRequest.model_validate(tree)
    except ValidationError as exc:
        raise RequestError(describe(exc)) from None


def _where(loc: tuple[int | str, ...]) -> str:
    by_path = {f.alias_path: f.flag.name for f in request_flags()}
    names = tuple(str(p) for p in loc)
    for end in range(len(names), 0, -1):  # a dict's key or a union's member below a field: name the field
        if names[:end] in by_path:
            return by_path[names[:end]]
    return "request." + ".".join(names)


def _problem(err: Mapping[str, Any]) -> str:
    loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not loc:
        return msg
    where, ctx, kind = _where(loc), err.get("ctx") or {}, err.get("type", "")
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"{where} must be {bounds[kind]} {limit}, got {err.get('input')!r}"
    if kind == "extra_forbidden":
        return f"{where}: unknown field (see docs/validation.md for the request's fields)"
    if kind == "missing":
        return f"{where} is required"
    return f"{where}: {msg}"


def describe(exc: ValidationError) -> str:
    """Every problem of a request on one line, named by flag."""
    return "; ".join(_problem(e) for e in exc.errors())


def raw_revision(args: argparse.Namespace) -> str | None:
    """The revision asked for, even when the request as a whole is invalid (for the termination message)."""
    value = getattr(args, DEST_PREFIX + "revision", None)
    return value if isinstance(value, str) else None
