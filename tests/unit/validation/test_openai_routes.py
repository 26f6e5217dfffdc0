"""`quantop validate --api openai`: completion chunks and usage read from the stream, accuracy answers of the
wrong shape counted as protocol errors, never crashes (the routes themselves: tests/integration)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from quantop.validation.accuracy import completion_text
from quantop.validation.sse import SseParser


def _events(*payloads: Any) -> list[Any]:
    parser = SseParser()
    raw = b"".join(b"data: " + (p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n\n" for p in payloads)
    return parser.feed(raw)


def test_completion_chunks_are_tokens_and_usage_and_done_are_read() -> None:
    chunk = {
        "id": "cmpl-1",
        "object": "text_completion",
        "choices": [{"index": 0, "text": " SELECT", "finish_reason": None}],
    }
    usage = {"id": "cmpl-1", "object": "text_completion", "choices": [], "usage": {"completion_tokens": 7}}
    token, last, done = _events(chunk, usage, b"[DONE]")
    assert token.token and token.text == " SELECT"
    assert not last.token and last.generated_tokens == 7
    assert done.done


def test_chat_chunks_still_read_their_delta() -> None:
    role, content = _events(
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "hi"}, "text": "ignored"}]},
    )
    assert not role.token and content.token and content.text == "hi"


def test_vllm_error_event_mid_stream_is_an_error() -> None:
    (event,) = _events({"error": {"message": "engine died", "type": "InternalServerError", "code": 500}})
    assert event.error == "engine died"


@pytest.mark.parametrize(
    ("payload", "result"),
    [
        pytest.param({"choices": [{"text": "SELECT 1"}]}, ("SELECT 1", None), id="answer"),
        pytest.param({"choices": []}, (None, "shape_no_choices"), id="no-choices"),
        pytest.param({"choices": "x"}, (None, "shape_no_choices"), id="choices-not-a-list"),
        pytest.param({"choices": ["x"]}, (None, "shape_no_choices"), id="choice-not-an-object"),
        pytest.param({"choices": [{"text": 3}]}, (None, "shape_no_text"), id="text-not-a-string"),
        pytest.param({"choices": [{"message": {"content": "x"}}]}, (None, "shape_no_text"), id="chat-shape"),
        pytest.param([{"generated_text": "x"}], (None, "shape_no_choices"), id="tgi-list"),
        pytest.param(None, (None, "shape_no_choices"), id="null"),
    ],
)
def test_completion_answers_of_the_wrong_shape_are_protocol_errors(payload: Any, result: tuple[Any, Any]) -> None:
    assert completion_text(payload) == result
