"""The committed CRD is generated from the models, is structural, and its CEL rules agree with pydantic."""

from __future__ import annotations

from typing import Any

import celpy
import jsonschema
import pytest
import yaml
from tests.conftest import DELETE, ROOT, phi35_spec

from quantop.api import SpecError, build_crd, crd_yaml, parse_spec

CRD_PATH = ROOT / "crds" / "quantizedmodels.quantop.dev.yaml"


def test_committed_crd_matches_the_models() -> None:
    assert CRD_PATH.read_text() == crd_yaml(), "CRD drifted from operator/quantop/api: run `make generate`"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for key in ("properties",):
            for k, v in node.get(key, {}).items():
                out.extend(_walk(v, f"{path}.{k}"))
        if isinstance(node.get("items"), dict):
            out.extend(_walk(node["items"], path + "[]"))
        if isinstance(node.get("additionalProperties"), dict):
            out.extend(_walk(node["additionalProperties"], path + "{}"))
    return out


SCHEMA = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
SPEC_SCHEMA = SCHEMA["properties"]["spec"]


def test_schema_is_structural() -> None:
    forbidden = {"$ref", "anyOf", "oneOf", "allOf", "const", "title", "$defs", "nullable"}
    for path, node in _walk(SCHEMA):
        assert not forbidden & node.keys(), f"{path} uses {forbidden & node.keys()}"
        assert "type" in node, f"{path} has no type"
        if "properties" in node:
            assert "additionalProperties" not in node, path


def test_every_spec_field_is_described() -> None:
    undescribed = [p for p, n in _walk(SPEC_SCHEMA) if p and "description" not in n and not p.endswith(("[]", "{}"))]
    assert undescribed == []


def test_printer_columns_and_names() -> None:
    crd = build_crd()
    version = crd["spec"]["versions"][0]
    names = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Model", "Method", "GPU", "Chosen", "Phase", "P95", "Accuracy", "Age", "RPS"} <= names
    assert crd["spec"]["names"]["shortNames"] == ["qm"]
    assert version["subresources"] == {"status": {}}


def _apply_defaults(schema: dict[str, Any], obj: Any) -> Any:
    """What the API server does before validation: fill defaults of absent fields in present objects."""
    if not isinstance(obj, dict) or schema.get("type") != "object":
        return obj
    for key, sub in schema.get("properties", {}).items():
        if key not in obj and "default" in sub:
            obj[key] = sub["default"]
        if key in obj:
            obj[key] = _apply_defaults(sub, obj[key])
    return obj


def _cel_errors(schema: dict[str, Any], obj: Any) -> list[str]:
    errors: list[str] = []
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))
        result = program.evaluate({"self": celpy.json_to_cel(obj)})
        if result is not True and not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            errors.append(rule["message"])
    if isinstance(obj, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in obj:
                errors += _cel_errors(sub, obj[key])
    return errors


def api_server_admits(spec: dict[str, Any]) -> list[str]:
    spec = _apply_defaults(SPEC_SCHEMA, spec)
    errors = [e.message for e in jsonschema.Draft4Validator(SPEC_SCHEMA).iter_errors(spec)]
    return errors + _cel_errors(SPEC_SCHEMA, spec)


CASES = [
    pytest.param({}, True, id="valid"),
    pytest.param({"quantization.method": "fp9"}, False, id="wrong-enum"),
    pytest.param({"serving.replicas": -1}, False, id="negative-replicas"),
    pytest.param({"serving.maxTotalTokens": 1024}, False, id="total-equals-input"),
    pytest.param({"serving.maxInputTokens": 4096}, False, id="input-over-default-total"),
    pytest.param({"serving": DELETE}, True, id="serving-omitted"),
    pytest.param({"gpu.count": 0}, False, id="zero-gpus"),
    pytest.param({"quantization.method": "exl2", "gpu.count": 2}, False, id="exl2-sharded"),
    pytest.param({"quantization.method": "exl2", "gpu.count": 1}, True, id="exl2-single"),
    pytest.param(
        {"validation.accuracy.dataset": {"builtin": "text-to-sql", "url": "http://x/a.jsonl"}}, False, id="two-datasets"
    ),
    pytest.param({"validation.accuracy.dataset": {}}, False, id="no-dataset-source"),
    pytest.param({"validation.baseline": {"accuracy": 0.6, "modelRef": "base"}}, False, id="two-baselines"),
    pytest.param({"validation.slo": {"p95LatencyMs": 6000, "p99LatencyMs": 5000}}, False, id="p99-below-p95"),
    pytest.param({"validation.load.duration": "five minutes"}, False, id="duration-not-a-duration"),
    pytest.param({"model.tokenSecretRef": {"key": "token"}}, False, id="secret-without-name"),
    pytest.param({"model.tokenSecretRef": {"name": "hf-token"}}, True, id="secret-default-key"),
    pytest.param({"model.id": "not a model id"}, False, id="model-id-with-spaces"),
    pytest.param({"gpu.type": "A10"}, False, id="gpu-type-uppercase"),
    pytest.param({"validation.baseline.maxAccuracyDrop": 2}, False, id="drop-over-one"),
    pytest.param({"unknownField": 1}, False, id="unknown-field"),
]


@pytest.mark.parametrize(("overrides", "ok"), CASES)
def test_schema_cel_and_pydantic_agree(overrides: dict[str, Any], ok: bool) -> None:
    spec = phi35_spec(**overrides)
    server_errors = api_server_admits(spec)
    if overrides.get("unknownField"):
        # The API server prunes unknown fields instead of rejecting them; pydantic (quantop render) rejects.
        server_errors = ["pruned"]
    assert (server_errors == []) is ok, server_errors
    try:
        parse_spec(phi35_spec(**overrides))
        pydantic_ok = True
    except SpecError:
        pydantic_ok = False
    assert pydantic_ok is ok


def test_pydantic_only_bounds_are_reported_with_the_fix() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(phi35_spec(**{"validation.load.duration": "999h"}))
    assert "spec.validation.load.duration" in str(err.value)
    assert "between 5s and 6h" in str(err.value)


def test_crd_yaml_round_trips() -> None:
    assert yaml.safe_load(crd_yaml()) == build_crd()
