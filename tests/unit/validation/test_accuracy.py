"""Accuracy requests against a hostile endpoint: every wrong answer is counted by kind, each request is bounded."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.hostile import hostile_server

from quantop.validation.accuracy import (
    AccuracyResult,
    UnjudgeableError,
    answer_text,
    evaluate,
    unjudgeable,
)
from quantop.validation.dataset import Example

EXAMPLES = [Example(id=str(i), prompt=f"Q{i}?", context="CREATE TABLE t (x);", answer="SELECT 1") for i in range(3)]


def answers(status: int, body: bytes) -> Callable[[Any], None]:
    return lambda h: h.reply(status, body)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param({"generated_text": "SELECT 1"}, ("SELECT 1", None), id="tgi-object"),
        pytest.param([{"generated_text": "SELECT 1"}], ("SELECT 1", None), id="tgi-list"),
        pytest.param("hello", (None, "shape_str"), id="string"),
        pytest.param(None, (None, "shape_null"), id="null"),
        pytest.param(["x"], (None, "shape_str"), id="list-of-string"),
        pytest.param([], (None, "shape_empty_list"), id="empty-list"),
        pytest.param(42, (None, "shape_int"), id="number"),
        pytest.param({}, (None, "shape_no_generated_text"), id="missing-field"),
        pytest.param({"generated_text": None}, (None, "shape_no_generated_text"), id="null-field"),
        pytest.param({"generated_text": ["SELECT 1"]}, (None, "shape_generated_text_not_a_string"), id="list-field"),
    ],
)
def test_answer_text(payload: Any, expected: tuple[str | None, str | None]) -> None:
    assert answer_text(payload) == expected


@pytest.mark.parametrize(
    ("route", "kind"),
    [
        pytest.param(answers(503, b'{"error": "overloaded"}'), "http_503", id="http-503"),
        pytest.param(lambda h: h.drip(), "timeout", id="slowloris"),
        pytest.param(lambda h: h.hang(), "timeout", id="hangs"),
    ],
)
async def test_a_failing_server_scores_wrong_counted_by_kind(route: Callable[[Any], None], kind: str) -> None:
    """The model's server failed to answer: a judgement (wrong), with the kind counted apart."""
    with hostile_server({"/generate": route}) as url:
        deadline = 1.0 if kind == "timeout" else 60.0
        result = await evaluate(url, EXAMPLES, metric="execution-accuracy", concurrency=3, timeout_s=deadline)
    assert result.correct == 0 and result.samples == 3
    assert result.request_errors == {kind: 3}


@pytest.mark.parametrize(
    ("route", "kinds"),
    [
        pytest.param(answers(200, b'"hello"'), "shape_str: 3", id="json-string"),
        pytest.param(answers(200, b"null"), "shape_null: 3", id="json-null"),
        pytest.param(answers(200, b'["x"]'), "shape_str: 3", id="json-list"),
        pytest.param(answers(200, b"{}"), "shape_no_generated_text: 3", id="missing-generated-text"),
        pytest.param(answers(200, b"<html>busy</html>"), "invalid_json: 3", id="html"),
        pytest.param(answers(200, b"[" * 100_000 + b"]" * 100_000), "invalid_json: 3", id="deeply-nested"),
        pytest.param(lambda h: h.endless(), "too_large: 3", id="endless-body"),
    ],
)
async def test_answers_that_are_not_tgi_cannot_be_judged(route: Callable[[Any], None], kinds: str) -> None:
    with hostile_server({"/generate": route}) as url, pytest.raises(UnjudgeableError) as error:
        await evaluate(url, EXAMPLES, metric="execution-accuracy", concurrency=3, timeout_s=60.0)
    assert f"3 of 3 answers were not TGI /generate answers ({kinds})" in str(error.value)


def result(samples: int, **errors: int) -> AccuracyResult:
    return AccuracyResult("exact", samples, 0, errors, {})


@pytest.mark.parametrize(
    ("accuracy", "judged"),
    [
        pytest.param(result(10), True, id="no-errors"),
        pytest.param(result(10, http_500=10), True, id="server-errors-are-a-judgement"),
        pytest.param(result(10, timeout=6, shape_str=4), True, id="mostly-timeouts"),
        pytest.param(result(10, shape_str=5), True, id="half-is-not-most"),
        pytest.param(result(10, shape_str=3, invalid_json=3), False, id="most-not-tgi"),
        pytest.param(result(0), True, id="nothing-asked"),
    ],
)
def test_unjudgeable(accuracy: AccuracyResult, judged: bool) -> None:
    assert (unjudgeable(accuracy) is None) is judged


async def test_a_right_answer_is_scored_through_the_sandbox() -> None:
    body = json.dumps({"generated_text": "```sql\nSELECT 1;\n```"}).encode()
    with hostile_server({"/generate": answers(200, body)}) as url:
        result = await evaluate(url, EXAMPLES, metric="execution-accuracy", concurrency=2, timeout_s=60.0)
    assert (result.correct, result.samples, result.request_errors) == (3, 3, {})
