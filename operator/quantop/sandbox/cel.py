"""A CRD's `x-kubernetes-validations` rules, evaluated at admission as the API server does.

cel-python (a test dependency) is imported only when a rule runs, so the sandbox's other parts
load without it. It lacks Kubernetes' CEL extension functions; the CRD keeps to standard CEL.
A rule that cannot be evaluated (a missing field without `has()`) is an error, as on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

Schema = Mapping[str, Any]


def rule_errors(obj: Any, schema: Schema, path: str) -> list[str]:
    """`path: Invalid value: "object": <message>` for each rule that does not hold."""
    errors = []
    for node, node_schema, node_path in _nodes(obj, schema, path):
        for rule in node_schema.get("x-kubernetes-validations") or []:
            verdict = _evaluate(rule["rule"], node)
            if verdict is True:
                continue
            where = node_path + rule.get("fieldPath", "") if rule.get("fieldPath") else node_path
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            if verdict is not False:
                message = f"{message} ({verdict} evaluating rule: {rule['rule']})"
            errors.append(f'{where}: Invalid value: "{_shown(node)}": {message}')
    return errors


def _nodes(obj: Any, schema: Schema, path: str) -> Iterator[tuple[Any, Schema, str]]:
    """Every value with its schema, parents before children."""
    yield obj, schema, path
    if isinstance(obj, dict):
        props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
        for key, value in obj.items():
            sub = props.get(key) or (extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                yield from _nodes(value, sub, f"{path}.{key}" if path else key)
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(obj):
            yield from _nodes(item, schema["items"], f"{path}[{i}]")


def _evaluate(rule: str, node: Any) -> bool | str:
    """True or False, or the evaluation error's text."""
    from celpy.adapter import json_to_cel
    from celpy.celtypes import BoolType
    from celpy.evaluation import CELEvalError

    try:
        result = _program(rule).evaluate({"self": json_to_cel(node)})
    except CELEvalError as exc:
        return str(exc.args[0] if exc.args else exc)
    if isinstance(result, CELEvalError):
        return str(result.args[0] if result.args else result)
    return bool(result) if isinstance(result, bool | BoolType) else f"not a bool: {result!r}"


@lru_cache(maxsize=128)
def _program(rule: str) -> Any:
    import celpy

    env = celpy.Environment()
    return env.program(env.compile(rule))


def _shown(node: Any) -> str:
    if isinstance(node, dict):
        return "object"
    if isinstance(node, list):
        return "array"
    return str(node)
