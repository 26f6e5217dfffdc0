"""`method: auto` at admission: the selection's pruning decides, for the operator and `quantop render` alike."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import qm
from tests.unit.resources.test_admission import known_only

from quantop.api import default_config
from quantop.resources.admission import SELECTION_REFUSED, Admission, Refusal, admit

AUTO = {"quantization.method": "auto"}

CASES = [
    pytest.param({**AUTO, "quantization.objective": "latency"}, None, "none", id="default-list-baseline-first"),
    pytest.param(
        {**AUTO, "quantization.candidates": ["eetq"], "validation.baseline": {"accuracy": 0.8}},
        None,
        "eetq",
        id="named-baseline-first-candidate-is-eetq",
    ),
    pytest.param(
        {**AUTO, "quantization.candidates": ["awq", "gptq"]},
        "awq@a10: RequiresPrequantizedModel",
        None,
        id="all-refused-each-reason",
    ),
    pytest.param(
        {**AUTO, "quantization.candidates": ["fp8"], "gpu.type": "t4"},
        "fp8@t4: MethodUnsupportedOnGPU",
        None,
        id="fp8-on-t4-only",
    ),
    pytest.param({**AUTO, "gpu.candidates": [{"type": "b200"}]}, "'b200'", None, id="unknown-gpu-candidate"),
    pytest.param(
        {**AUTO, "selection": {"maxGpuMinutes": 1}, "validation.load": {"duration": "5m"}},
        "raise maxGpuMinutes",
        None,
        id="budget-below-one-candidate",
    ),
]


@pytest.mark.parametrize(("overrides", "refused", "first_method"), CASES)
def test_auto_admission(overrides: dict[str, Any], refused: str | None, first_method: str | None) -> None:
    verdict = admit(qm(**overrides), default_config(), known_only)
    if refused is not None:
        assert isinstance(verdict, Refusal), verdict
        assert verdict.reason == SELECTION_REFUSED and refused in verdict.message, verdict.message
        assert "none@a10: Planned" not in verdict.message, "a runnable baseline is not listed as refused"
        return
    assert isinstance(verdict, Admission), verdict
    assert verdict.selection is not None and verdict.auto_spec is not None
    assert verdict.ctx.spec.quantization.method.value == first_method
    first = next(r for r in verdict.selection.candidates if r.revision)
    assert verdict.ctx.revision == first.revision, "the admitted context is the first row's revision"
