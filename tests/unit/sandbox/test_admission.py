"""The emulated API server refuses what kube-apiserver refuses, in its words (issue 15 part 5, issue 16)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.conftest import phi35_spec

from quantop.resources.names import label_value, revision_name, stable_service_name, validation_job_name
from quantop.sandbox.admission import admit, invalid_status, label_errors, name_errors, strict_decoding_status


def qm(spec: dict[str, Any] | None = None, name: str = "phi35-eetq", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "quantop.dev/v1alpha1",
        "kind": "QuantizedModel",
        "metadata": {"name": name, "namespace": "demo", **meta},
        "spec": spec if spec is not None else phi35_spec(),
    }


@pytest.mark.parametrize(
    ("plural", "name", "says"),
    [
        pytest.param("quantizedmodels", "phi35-eetq", None, id="ok"),
        pytest.param("quantizedmodels", "phi3.5-eetq", None, id="subdomain-dots-ok"),
        pytest.param("quantizedmodels", "p" * 253, None, id="subdomain-253-ok"),
        pytest.param("quantizedmodels", "p" * 254, "must be no more than 253 characters", id="subdomain-254"),
        pytest.param("quantizedmodels", "Phi35", "RFC 1123 subdomain", id="uppercase"),
        pytest.param("quantizedmodels", "phi35_eetq", "RFC 1123 subdomain", id="underscore"),
        pytest.param("quantizedmodels", "-phi35", "RFC 1123 subdomain", id="leading-dash"),
        pytest.param("quantizedmodels", "", "Required value", id="empty"),
        pytest.param("services", "s" * 63, None, id="service-63-ok"),
        pytest.param("services", "s" * 64, "must be no more than 63 characters", id="service-64"),
        pytest.param("services", "7b-model", "DNS-1035 label", id="service-leading-digit"),
        pytest.param("services", "phi3.5", "DNS-1035 label", id="service-dot"),
        pytest.param("jobs", "j" * 63, None, id="job-63-ok"),
        pytest.param("jobs", "j" * 64, "must be no more than 63 characters", id="job-64"),
        pytest.param("deployments", "d" * 100, None, id="deployment-subdomain"),
        pytest.param("namespaces", "llm.prod", "RFC 1123 label", id="namespace-dot"),
    ],
)
def test_name_rules_per_kind(plural: str, name: str, says: str | None) -> None:
    errors = name_errors(plural, name)
    if says is None:
        assert errors == []
    else:
        assert errors and says in " ".join(errors) and all(e.startswith("metadata.name: ") for e in errors)


@pytest.mark.parametrize("length", [40, 47, 48, 52, 56, 57, 63, 100, 253])
def test_every_child_of_a_long_model_name_is_admitted(length: int) -> None:
    """names.py and the API server's rules agree: no child of any valid model name gets a 422."""
    name = ("phi35-sql-fp8-" * 20)[: length - 1] + "z"
    assert name_errors("quantizedmodels", name) == []
    assert name_errors("deployments", revision_name(name, "95e9cc")) == []
    assert name_errors("services", revision_name(name, "95e9cc")) == []
    assert name_errors("services", stable_service_name(name)) == []
    assert name_errors("jobs", validation_job_name(name, "95e9cc")) == []
    assert label_errors({"app.kubernetes.io/instance": label_value(name)}) == []


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        pytest.param({"app.kubernetes.io/instance": "m7"}, None, id="ok"),
        pytest.param({"team": ""}, None, id="empty-value-ok"),
        pytest.param({"team": "v" * 64}, "at most 63 characters", id="value-64"),
        pytest.param({"team": "a b"}, "a valid label", id="value-space"),
        pytest.param({"team": "-x"}, "a valid label", id="value-leading-dash"),
        pytest.param({"team": 3}, "must be strings", id="value-not-string"),
        pytest.param({"k" * 64: "x"}, "name part", id="key-name-64"),
        pytest.param({"Bad_Prefix/x": "y"}, "prefix part", id="key-prefix"),
        pytest.param({"/x": "y"}, "prefix part must be non-empty", id="empty-prefix-slash"),
    ],
)
def test_label_rules(labels: dict[str, Any], says: str | None) -> None:
    errors = label_errors(labels)
    assert (errors == []) if says is None else (says in " ".join(errors))


SCHEMA_CASES = [
    pytest.param({}, [], id="valid"),
    pytest.param(
        {"quantization": {"method": "fp9"}},
        ['spec.quantization.method: Unsupported value: "fp9": supported values: "none"'],
        id="enum",
    ),
    pytest.param(
        {"gpu": {"type": "a10", "count": "two"}},
        ['spec.gpu.count: Invalid value: "string": spec.gpu.count in body must be of type integer'],
        id="type",
    ),
    pytest.param(
        {"gpu": {"type": "a10", "count": True}},
        ['spec.gpu.count: Invalid value: "boolean": spec.gpu.count in body must be of type integer'],
        id="bool-is-not-an-integer",
    ),
    pytest.param({"gpu": {"count": 1}}, ["spec.gpu.type: Required value"], id="required"),
    pytest.param(
        {"serving": {"replicas": -1, "maxInputTokens": 1024, "maxTotalTokens": 2048}},
        ["spec.serving.replicas: Invalid value: -1: spec.serving.replicas in body should be greater than or equal to"],
        id="minimum",
    ),
    pytest.param(
        {"model": {"id": "not a repo id!"}},
        ['spec.model.id: Invalid value: "not a repo id!": spec.model.id in body should match'],
        id="pattern",
    ),
    pytest.param(
        {"model": {"id": "a/" + "b" * 300}},
        ["spec.model.id: Too long: may not be more than 256 bytes"],
        id="max-length",
    ),
    pytest.param(
        {"serving": {"replicas": 1, "maxInputTokens": 2048, "maxTotalTokens": 1024}},
        [
            'spec.serving.maxTotalTokens: Invalid value: "object": '
            "serving.maxTotalTokens must be greater than serving.maxInputTokens"
        ],
        id="cel-with-field-path",
    ),
    pytest.param(
        {"validation": {"slo": {"p95LatencyMs": 6000, "p99LatencyMs": 100}}},
        ['spec.validation.slo: Invalid value: "object": slo.p99LatencyMs must be >= slo.p95LatencyMs'],
        id="cel-nested",
    ),
]


@pytest.mark.parametrize(("changes", "errors"), SCHEMA_CASES)
def test_quantized_models_meet_the_crd_schema_and_its_rules(changes: dict[str, Any], errors: list[str]) -> None:
    spec = {**phi35_spec(), **changes}
    verdict = admit("quantizedmodels", qm(spec), custom=True)
    assert len(verdict.invalid) == len(errors), verdict.invalid
    for found, expected in zip(verdict.invalid, errors, strict=True):
        assert found.startswith(expected), found


def test_defaults_are_filled_in_as_the_api_server_stores_them() -> None:
    verdict = admit("quantizedmodels", qm(), custom=True)
    assert verdict.invalid == [] and verdict.unknown == []
    spec = verdict.obj["spec"]
    assert spec["model"]["revision"] == "main" and spec["gpu"]["count"] == 1
    assert "tokenSecretRef" not in spec["model"]  # no default for an absent optional object
    assert verdict.obj["metadata"] == qm()["metadata"]  # metadata is the server's, never pruned


def test_unknown_fields_are_pruned_and_named() -> None:
    obj = qm(status={"phase": "Promoted"})
    obj["spec"]["gpu"]["surprise"] = 1
    obj["spec"]["extra"] = {"deep": True}
    obj["status"] = {"phase": "Promoted", "kopf": {"progress": {}}}
    verdict = admit("quantizedmodels", obj, custom=True)
    assert sorted(verdict.unknown) == ["spec.extra", "spec.gpu.surprise", "status.kopf"]
    assert "surprise" not in verdict.obj["spec"]["gpu"] and "kopf" not in verdict.obj["status"]
    assert verdict.warnings == [f'unknown field "{p}"' for p in verdict.unknown]
    body = strict_decoding_status("QuantizedModel", "v1alpha1", verdict.unknown)
    assert body["code"] == 400 and 'strict decoding error: unknown field "spec.gpu.surprise"' in body["message"]


def test_built_in_kinds_get_name_and_label_rules_only() -> None:
    deployment = {"metadata": {"name": "m7-abc", "labels": {"x": "y"}}, "spec": {"anything": 1}}
    verdict = admit("deployments", deployment, custom=False)
    assert verdict.invalid == [] and verdict.obj == deployment


def test_annotations_are_capped_at_256_kib() -> None:
    big = qm()
    big["metadata"]["annotations"] = {"note": "x" * (256 * 1024)}
    assert any("Too long" in e for e in admit("quantizedmodels", big, custom=True).invalid)


def test_the_refusal_is_a_422_invalid_status_with_each_cause() -> None:
    original = qm({**phi35_spec(), "quantization": {"method": "fp9"}, "gpu": {"count": 1}})
    verdict = admit("quantizedmodels", copy.deepcopy(original), custom=True)
    body = invalid_status("QuantizedModel", "quantop.dev", "phi35-eetq", verdict.invalid)
    assert (body["code"], body["reason"], body["kind"]) == (422, "Invalid", "Status")
    assert body["message"].startswith('QuantizedModel.quantop.dev "phi35-eetq" is invalid: [')
    fields = {c["field"]: c["reason"] for c in body["details"]["causes"]}
    assert fields == {"spec.gpu.type": "FieldValueRequired", "spec.quantization.method": "FieldValueInvalid"}
