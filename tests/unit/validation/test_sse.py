"""SSE parsing as TGI and OpenAI-style servers stream: split anywhere, errors mid-stream."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantop.validation.sse import MAX_EVENT_BYTES, SseParser, StreamEvent, parse_data


def tgi_event(i: int, text: str, final: str | None = None) -> bytes:
    payload = {"index": i, "token": {"id": i, "text": text, "logprob": -0.1, "special": False}, "generated_text": final}
    if final is not None:
        payload["details"] = {"finish_reason": "length", "generated_tokens": i, "seed": None, "input_length": 3}
    return b"data:" + json.dumps(payload).encode() + b"\n\n"


STREAM = tgi_event(1, "SELECT") + tgi_event(2, " 1") + tgi_event(3, " ;", final="SELECT 1 ;")


def parse_all(chunks: list[bytes]) -> list[StreamEvent]:
    parser = SseParser()
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    return events + parser.close()


def test_tgi_stream_tokens_and_final_event() -> None:
    events = parse_all([STREAM])
    assert [e.text for e in events] == ["SELECT", " 1", " ;"]
    assert all(e.token for e in events)
    assert events[-1].done and events[-1].final_text == "SELECT 1 ;" and events[-1].generated_tokens == 3
    assert not any(e.done for e in events[:-1])


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert parse_all(chunks) == parse_all([STREAM])


def test_crlf_split_between_cr_and_lf_and_multibyte_characters() -> None:
    raw = 'data:{"token": {"text": "é", "special": false}}\r\n\r\n'.encode()
    cut = raw.index(b"\r") + 1  # \r at the end of one chunk, \n at the start of the next
    assert [e.text for e in parse_all([raw[:cut], raw[cut:]])] == ["é"]
    mid = raw.index("é".encode()) + 1  # inside the two-byte character
    assert [e.text for e in parse_all([raw[:mid], raw[mid:]])] == ["é"]


def test_error_mid_stream_is_reported_with_its_type() -> None:
    error = b'data:{"error":"Request failed during generation: CUDA OOM","error_type":"generation"}\n\n'
    events = parse_all([tgi_event(1, "SEL"), error])
    assert events[0].token and not events[0].error
    assert events[1].error == "Request failed during generation: CUDA OOM"
    assert events[1].error_type == "generation" and not events[1].token


def test_openai_chunks_and_done_marker() -> None:
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "SELECT"}}]}
    raw = b"data: " + json.dumps(chunk).encode() + b"\n\n: keep-alive\n\ndata: [DONE]\n\n"
    events = parse_all([raw])
    assert [(e.text, e.token, e.done) for e in events] == [("SELECT", True, False), ("", False, True)]


def test_openai_error_object() -> None:
    assert parse_data('{"error": {"message": "overloaded", "type": "x"}}').error == "overloaded"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[1, 2]", id="array"),
        pytest.param('"hello"', id="string"),
        pytest.param("null", id="null"),
        pytest.param('{"token": "x"}', id="token-is-a-string"),
        pytest.param('{"token": {"text": "x"}, "details": [1]}', id="details-is-a-list"),
        pytest.param('{"choices": [1]}', id="choice-is-a-number"),
        pytest.param('{"choices": [{"delta": "x"}]}', id="delta-is-a-string"),
        pytest.param('{"choices": "abc"}', id="choices-is-a-string"),
        pytest.param('{"choices": [{"text": "x"}], "usage": 5}', id="usage-is-a-number"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="nested-past-the-parser"),
    ],
)
def test_garbage_is_a_protocol_error_not_a_crash(data: str) -> None:
    assert parse_data(data).error_type == "protocol"


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"data:" + b"x" * (MAX_EVENT_BYTES + 1)], id="one-endless-line"),
        pytest.param([b"data:" + b"x" * 1000] * (MAX_EVENT_BYTES // 1000 + 2), id="a-line-in-small-chunks"),
        pytest.param([b"data: x\n" * (MAX_EVENT_BYTES // 8 + 2)], id="an-event-of-many-data-lines"),
    ],
)
def test_an_event_past_the_cap_is_a_protocol_error_and_memory_stays_bounded(chunks: list[bytes]) -> None:
    parser = SseParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    assert [e.error_type for e in events] == ["protocol"]
    assert events[0].error == f"event larger than {MAX_EVENT_BYTES} bytes"


def test_multi_line_data_and_unterminated_last_event() -> None:
    raw = b'data:{"token":\ndata: {"text": "x", "special": false}}\n\ndata:{"token": {"text": "y"}}'
    assert [e.text for e in parse_all([raw])] == ["x", "y"]


def test_special_tokens_are_not_counted() -> None:
    event = parse_data('{"token": {"text": "</s>", "special": true}, "generated_text": "x"}')
    assert not event.token and event.done and event.text == ""
