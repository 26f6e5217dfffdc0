"""The TGI -> vLLM migration patch and the demo's comparison of the two revisions."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import phi35_spec

from quantop.api import SpecError, parse_spec
from quantop.sandbox.demo import _print_migration
from quantop.sandbox.migration import Migration, vllm_patch


@pytest.mark.parametrize(
    ("method", "patch"),
    [
        pytest.param("fp8", {"engine": "vllm"}, id="same-name"),
        pytest.param("none", {"engine": "vllm"}, id="baseline"),
        pytest.param("eetq", {"engine": "vllm", "quantization": {"method": "fp8"}}, id="eetq-to-fp8"),
        pytest.param("bitsandbytes", {"engine": "vllm", "quantization": {"method": "fp8"}}, id="int8-stays-8-bit"),
        pytest.param("bitsandbytes-nf4", {"engine": "vllm", "quantization": {"method": "bitsandbytes"}}, id="nf4"),
    ],
)
def test_the_patch_names_vllms_method_and_gives_a_spec_vllm_accepts(method: str, patch: dict[str, Any]) -> None:
    spec = phi35_spec(**{"quantization.method": method})
    assert vllm_patch(spec) == {"spec": patch}
    patched_method = patch.get("quantization", {}).get("method", method)
    assert parse_spec(phi35_spec(engine="vllm", **{"quantization.method": patched_method})).engine.value == "vllm"


def test_a_method_vllm_cannot_load_is_left_for_the_api_to_refuse() -> None:
    spec = phi35_spec(**{"quantization.method": "exl2"})
    assert vllm_patch(spec) == {"spec": {"engine": "vllm"}}
    with pytest.raises(SpecError, match="cannot load exl2"):
        parse_spec(phi35_spec(**{"quantization.method": "exl2", "engine": "vllm"}))


def test_the_demo_prints_both_engines_rows(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"revision": "aaa111", "method": "fp8", "verdict": "Promoted", "p95Ms": 5800.0, "accuracy": 0.69},
        {"revision": "bbb222", "method": "fp8", "verdict": "Promoted", "p95Ms": 5100.4, "accuracy": 0.7},
    ]
    _print_migration(Migration("aaa111", "bbb222", True, rows))
    out = capsys.readouterr().out
    assert "TGI -> vLLM, promoted" in out
    assert "aaa111    tgi     fp8      Promoted         5800    0.690" in out
    assert "bbb222    vllm    fp8      Promoted         5100    0.700" in out
