"""Generate the CustomResourceDefinition from the pydantic models (the single source of truth).

Pydantic emits JSON Schema 2020-12; Kubernetes wants a *structural* OpenAPI v3 subset: no
$ref, no anyOf-with-null, no const, boolean exclusive bounds, no titles. This module does
that conversion and adds what only Kubernetes knows: CEL rules, printer columns, status
subresource, list-map keys for conditions.
"""

from __future__ import annotations

import copy
from typing import Any

from .resource import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from .spec import QuantizedModelSpec
from .status import QuantizedModelStatus

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.id"},
    {"name": "Method", "type": "string", "jsonPath": ".spec.quantization.method"},
    {"name": "GPU", "type": "string", "jsonPath": ".spec.gpu.type"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Stable", "type": "string", "jsonPath": ".status.stableRevision"},
    {"name": "P95", "type": "number", "jsonPath": ".status.results.p95Ms", "description": "p95 latency, ms"},
    {"name": "RPS", "type": "number", "jsonPath": ".status.results.requestsPerSecond"},
    {"name": "Accuracy", "type": "number", "jsonPath": ".status.results.accuracy"},
    {
        "name": "Candidate",
        "type": "string",
        "jsonPath": ".status.candidatePhase",
        "description": "Phase of the spec's revision while another one serves (e.g. Failed); empty once it serves",
    },
    {
        "name": "Chosen",
        "type": "string",
        "jsonPath": ".status.selection.winner",
        "description": "method: auto: the candidate the selection chose, e.g. eetq@a10",
    },
    {"name": "$/1M", "type": "number", "jsonPath": ".status.results.costPerMillionTokens", "priority": 1},
    {
        "name": "Verdict",
        "type": "string",
        "jsonPath": ".status.candidateResults.verdict",
        "priority": 1,
        "description": "The candidate's validation verdict: Passed, Failed, Inconclusive or Error",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

_DROP_KEYS = {"title", "$defs", "examples"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").split("/")[-1]])
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if "allOf" in node and len(node["allOf"]) == 1:
        only = node.pop("allOf")[0]
        node = {**_structural(only, defs), **node}
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            del node["anyOf"]
            node = {**_structural(options[0], defs), **node}
            node.pop("default", None) if node.get("default") is None else None
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[plain] = node.pop(bound)
            node[bound] = True
    if node.get("type") == "integer" or node.get("type") == "number":
        node.pop("format", None)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties":
            out[key] = {k: _structural(v, defs) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _structural(value, defs)
        elif key == "required" and not value:
            continue
        elif key == "additionalProperties" and value is False:
            # Structural schemas forbid it beside properties; the API server prunes unknown fields.
            continue
        else:
            out[key] = value
    if "default" in out and out["default"] is None:
        del out["default"]
    return out


def openapi_schema(model: type[Any]) -> dict[str, Any]:
    """A structural OpenAPI v3 schema for a pydantic model, with descriptions kept."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    return _structural(raw, defs)  # type: ignore[no-any-return]


def _conditions_as_map(status_schema: dict[str, Any]) -> None:
    cond = status_schema["properties"]["conditions"]
    cond["x-kubernetes-list-type"] = "map"
    cond["x-kubernetes-list-map-keys"] = ["type"]


def build_crd() -> dict[str, Any]:
    spec_schema = openapi_schema(QuantizedModelSpec)
    status_schema = openapi_schema(QuantizedModelStatus)
    _conditions_as_map(status_schema)
    schema = {
        "type": "object",
        "description": "A Hugging Face model served by TGI with a quantization method, promoted only after "
        "it meets its latency SLOs and accuracy gate.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "quantop", "app.kubernetes.io/part-of": "quantop"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["all", "quantop"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def crd_yaml() -> str:
    import yaml

    header = "# Generated by `quantop crd` from operator/quantop/api. Do not edit: run `make generate`.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=120)
