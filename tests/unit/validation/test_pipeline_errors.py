"""Whatever goes wrong inside a run, validate ends with exit 2, one line and a termination message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantop.api.status import ValidationResults, Verdict
from quantop.api.validation_request import ValidationRequest
from quantop.validation import pipeline


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(AttributeError("'str' object has no attribute 'get'"), id="wrong-shape-somewhere"),
        pytest.param(KeyError("generated_text"), id="missing-key"),
        pytest.param(RecursionError("maximum recursion depth exceeded"), id="recursion"),
        pytest.param(MemoryError(), id="memory"),
    ],
)
def test_an_unexpected_error_is_exit_2_with_a_reason_and_a_termination_message(
    error: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(*_: Any, **__: Any) -> None:
        raise error

    monkeypatch.setattr(pipeline, "wait_until_ready", lambda *_, **__: None)
    monkeypatch.setattr(pipeline, "_measure", fails)
    request = ValidationRequest.model_validate(
        {"endpoint": "http://127.0.0.1:9", "label": "x", "revision": "r1", "load": {"users": 0}}
    )
    term = tmp_path / "termination-log"
    output = pipeline.Output(out_dir=tmp_path / "o", termination_log=term, progress=False, plots=False)
    assert pipeline.run_validation(request, output) == pipeline.EXIT_ERROR
    result = ValidationResults.model_validate_json(term.read_text())
    assert result.verdict == Verdict.ERROR and result.revision == "r1"
    assert result.message.startswith(f"could not judge: {type(error).__name__}")
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("quantop validate: could not judge") and "Traceback" not in last
