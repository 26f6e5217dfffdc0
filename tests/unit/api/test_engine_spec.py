"""spec.engine: per-engine method names and vLLM-only fields, refused alike by CEL (API server) and pydantic."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import phi35_spec
from tests.unit.api.test_crd import api_server_admits

from quantop.api import SpecError, parse_spec
from quantop.api.spec import DEFAULT_TGI_IMAGE, DEFAULT_VLLM_IMAGE, Engine

VLLM = {"engine": "vllm"}

CASES = [
    pytest.param({}, None, id="tgi-default"),
    pytest.param(VLLM, "engine vllm has no eetq: use fp8", id="vllm-eetq-names-fp8"),
    pytest.param({**VLLM, "quantization.method": "fp8"}, None, id="vllm-fp8-same-name"),
    pytest.param({**VLLM, "quantization.method": "awq_marlin"}, None, id="vllm-awq-marlin"),
    pytest.param({**VLLM, "quantization.method": "gptq_marlin"}, None, id="vllm-gptq-marlin"),
    pytest.param({**VLLM, "quantization.method": "bitsandbytes"}, None, id="vllm-bitsandbytes"),
    pytest.param({**VLLM, "quantization.method": "compressed-tensors"}, None, id="vllm-compressed-tensors"),
    pytest.param({**VLLM, "quantization.method": "none"}, None, id="vllm-unquantized"),
    pytest.param({**VLLM, "quantization.method": "bitsandbytes-nf4"}, "use bitsandbytes", id="vllm-nf4-names-bnb"),
    pytest.param({**VLLM, "quantization.method": "bitsandbytes-fp4"}, "use bitsandbytes", id="vllm-fp4-names-bnb"),
    pytest.param({**VLLM, "quantization.method": "exl2"}, "cannot load exl2", id="vllm-exl2"),
    pytest.param({**VLLM, "quantization.method": "marlin"}, "use gptq_marlin", id="vllm-marlin"),
    pytest.param({"quantization.method": "awq_marlin"}, "with engine tgi use awq", id="tgi-awq-marlin"),
    pytest.param({"quantization.method": "gptq_marlin"}, "with engine tgi use gptq", id="tgi-gptq-marlin"),
    pytest.param({"vllm": {"gpuMemoryUtilization": 0.8}}, "set engine: vllm", id="vllm-options-with-tgi"),
    pytest.param({**VLLM, "quantization.method": "fp8", "vllm": {"gpuMemoryUtilization": 1}}, None, id="util-one"),
    pytest.param(
        {**VLLM, "quantization.method": "fp8", "vllm": {"gpuMemoryUtilization": 0}}, "greater than 0", id="util-zero"
    ),
    pytest.param(
        {**VLLM, "quantization.method": "fp8", "vllm": {"gpuMemoryUtilization": 1.2}},
        "less than or equal",
        id="util-1.2",
    ),
    pytest.param({**VLLM, "quantization.method": "fp8", "vllm": {"kvCacheDtype": "fp8"}}, None, id="kv-fp8"),
    pytest.param(
        {**VLLM, "quantization.method": "fp8", "vllm": {"kvCacheDtype": "int4"}}, "is not one of", id="kv-int4"
    ),
    pytest.param(
        {**VLLM, "quantization.method": "fp8", "vllm": {"maxNumSeqs": 0}}, "greater than or equal", id="seqs-0"
    ),
    pytest.param(
        {**VLLM, "quantization.method": "fp8", "serving.maxBatchTotalTokens": 65536},
        "remove serving.maxBatchTotalTokens",
        id="vllm-with-tgi-kv-budget",
    ),
    pytest.param({"engine": "sglang"}, "is not one of 'tgi' or 'vllm'", id="unknown-engine"),
]


@pytest.mark.parametrize(("overrides", "refusal"), CASES)
def test_api_server_and_pydantic_agree_per_engine(overrides: dict[str, Any], refusal: str | None) -> None:
    server_errors = api_server_admits(phi35_spec(**overrides))
    assert (server_errors == []) is (refusal is None), server_errors
    try:
        parse_spec(phi35_spec(**overrides))
        message = None
    except SpecError as exc:
        message = str(exc)
    if refusal is None:
        assert message is None
    else:
        assert message is not None and refusal in message, message
        # CEL says the same fix as pydantic where the rule is a cross-field one.
        if not refusal.startswith(("greater", "less", "is not")):
            assert any(refusal in e for e in server_errors), server_errors


@pytest.mark.parametrize(
    ("overrides", "image"),
    [
        pytest.param({}, DEFAULT_TGI_IMAGE, id="tgi"),
        pytest.param({**VLLM, "quantization.method": "fp8"}, DEFAULT_VLLM_IMAGE, id="vllm"),
        pytest.param({**VLLM, "quantization.method": "fp8", "serving.image": "my/vllm:1"}, "my/vllm:1", id="own"),
    ],
)
def test_unset_image_means_the_engines_pinned_release(overrides: dict[str, Any], image: str) -> None:
    assert parse_spec(phi35_spec(**overrides)).image == image


def test_tgi_is_pinned_to_its_final_release_and_the_default_engine() -> None:
    assert DEFAULT_TGI_IMAGE.endswith(":3.3.7")
    assert parse_spec(phi35_spec()).engine is Engine.TGI
