"""A CRD's structural schema applied as the API server applies it: default, prune, validate.

Order and wording follow kube-apiserver: defaults fill absent fields, unknown fields are pruned
(or refused with `fieldValidation=Strict`, which kubectl sends), then each value is checked
against its schema; errors read `spec.gpu.count: Invalid value: 0: ... should be greater than or
equal to 1`. The rules (`x-kubernetes-validations`) run afterwards, in cel.py.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

Schema = Mapping[str, Any]
#: Fields of every object that no CRD schema describes and that are never pruned.
ROOT_FIELDS = {"apiVersion", "kind", "metadata"}
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}

_JSON_NAMES = {str: "string", dict: "object", list: "array", bool: "boolean", int: "integer", float: "number"}


@dataclass
class Outcome:
    """Field errors (`path: Reason: detail`) and the unknown fields that were dropped."""

    errors: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def apply_defaults(obj: Any, schema: Schema) -> Any:
    """A copy of obj with every absent field that has a default filled in (recursively)."""
    if isinstance(obj, dict):
        out = {}
        props = schema.get("properties") or {}
        for key, value in obj.items():
            sub = props.get(key) or _map_schema(schema)
            out[key] = apply_defaults(value, sub) if sub else value
        for key, sub in props.items():
            if key not in out and "default" in sub:
                out[key] = apply_defaults(copy.deepcopy(sub["default"]), sub)
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(item, schema["items"]) for item in obj]
    return obj


def _map_schema(schema: Schema) -> Schema | None:
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def prune(obj: Any, schema: Schema, path: str, outcome: Outcome) -> Any:
    """obj without the fields its schema does not declare; their paths go to outcome.unknown."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return obj
    if isinstance(obj, dict) and schema.get("type") == "object":
        props, extra = schema.get("properties") or {}, _map_schema(schema)
        out = {}
        for key, value in obj.items():
            sub = props.get(key) or extra
            if path == "" and key in ROOT_FIELDS:
                out[key] = value  # the API server's own fields, not the CRD's
            elif sub is None:
                outcome.unknown.append(_join(path, key))
            else:
                out[key] = prune(value, sub, _join(path, key), outcome)
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [prune(item, schema["items"], f"{path}[{i}]", outcome) for i, item in enumerate(obj)]
    return obj


def validate(obj: Any, schema: Schema, path: str, outcome: Outcome) -> None:
    """Append one error per violated keyword, depth first, as the API server lists them."""
    if obj is None:
        if not schema.get("nullable"):
            outcome.errors.append(f'{path}: Invalid value: "null": {path} in body must be of type {schema.get("type")}')
        return
    kind = schema.get("type")
    if kind and not _is_type(obj, kind):
        shown = _JSON_NAMES.get(type(obj), type(obj).__name__)
        outcome.errors.append(f'{path}: Invalid value: "{shown}": {path} in body must be of type {kind}: "{shown}"')
        return
    _check_enum_and_bounds(obj, schema, path, outcome)
    if isinstance(obj, dict):
        _validate_object(obj, schema, path, outcome)
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(obj):
            validate(item, schema["items"], f"{path}[{i}]", outcome)


def _validate_object(obj: dict[str, Any], schema: Schema, path: str, outcome: Outcome) -> None:
    for key in schema.get("required") or []:
        if key not in obj:
            outcome.errors.append(f"{_join(path, key)}: Required value")
    props, extra = schema.get("properties") or {}, _map_schema(schema)
    for key, value in obj.items():
        sub = props.get(key) or extra
        if sub is not None:
            validate(value, sub, _join(path, key), outcome)


def _check_enum_and_bounds(obj: Any, schema: Schema, path: str, outcome: Outcome) -> None:
    shown = json.dumps(obj) if isinstance(obj, str | int | float) else '"object"'
    if "enum" in schema and obj not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        outcome.errors.append(f"{path}: Unsupported value: {shown}: supported values: {allowed}")
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        _check_number(obj, schema, path, shown, outcome)
    if isinstance(obj, str):
        if "maxLength" in schema and len(obj) > schema["maxLength"]:
            outcome.errors.append(f"{path}: Too long: may not be more than {schema['maxLength']} bytes")
        if "minLength" in schema and len(obj) < schema["minLength"]:
            outcome.errors.append(
                f"{path}: Invalid value: {shown}: {path} in body should be at least {schema['minLength']} chars long"
            )
        if "pattern" in schema and not _pattern(schema["pattern"]).search(obj):
            outcome.errors.append(f"{path}: Invalid value: {shown}: {path} in body should match '{schema['pattern']}'")
    if isinstance(obj, list | dict):
        size, word = len(obj), "items" if isinstance(obj, list) else "properties"
        low, high = schema.get(f"min{word.capitalize()}"), schema.get(f"max{word.capitalize()}")
        if high is not None and size > high:
            outcome.errors.append(f"{path}: Too many: {size}: must have at most {high} {word}")
        if low is not None and size < low:
            outcome.errors.append(f"{path}: Invalid value: {size}: {path} in body should have at least {low} {word}")


def _check_number(value: float, schema: Schema, path: str, shown: str, outcome: Outcome) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None:
        strict = bool(schema.get("exclusiveMinimum"))
        if value < low or (strict and value == low):
            relation = "greater than" if strict else "greater than or equal to"
            outcome.errors.append(f"{path}: Invalid value: {shown}: {path} in body should be {relation} {low}")
    if high is not None:
        strict = bool(schema.get("exclusiveMaximum"))
        if value > high or (strict and value == high):
            relation = "less than" if strict else "less than or equal to"
            outcome.errors.append(f"{path}: Invalid value: {shown}: {path} in body should be {relation} {high}")


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(kind, (object,)))


@lru_cache(maxsize=64)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def admit(obj: Mapping[str, Any], schema: Schema) -> tuple[dict[str, Any], Outcome]:
    """Default, prune and validate a whole object against the CRD's openAPIV3Schema."""
    outcome = Outcome()
    defaulted = apply_defaults(dict(obj), schema)
    pruned = prune(defaulted, schema, "", outcome)
    validate({k: v for k, v in pruned.items() if k not in ROOT_FIELDS}, without_root(schema), "", outcome)
    return pruned, outcome


def without_root(schema: Schema) -> Schema:
    props = {k: v for k, v in (schema.get("properties") or {}).items() if k not in ROOT_FIELDS}
    return {**schema, "properties": props}
