"""The TGI emulator speaks TGI's HTTP API: routes, payloads, errors and metric names."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp.test_utils import TestServer

from quantop.sandbox.tgi_emulator import Emulator, profile_for
from quantop.sandbox.tgi_emulator.answers import REFERENCE_ACCURACY, knows
from quantop.validation.dataset import load_dataset
from quantop.validation.scoring import execution_match, extract_sql, prompt_for
from quantop.validation.sse import SseParser, StreamEvent

FAST = {"latency_scale": "0.02"}  # the A10 timing model, 50x faster, so tests take milliseconds


async def serve(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    server = TestServer(emulator.app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=30) as client:
            yield client
    finally:
        await server.close()


@pytest.fixture
async def tgi() -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve(Emulator(profile_for("a10", "eetq").override(FAST))):
        yield client


async def stream(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> list[StreamEvent]:
    parser, events = SseParser(), []
    try:
        async with client.stream("POST", path, json=body) as resp:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            async for chunk in resp.aiter_raw():
                events += parser.feed(chunk)
    except httpx.RemoteProtocolError:
        events.append(StreamEvent(error="connection closed mid-stream", error_type="disconnect"))
    return events + parser.close()


async def test_info_has_tgi_fields(tgi: httpx.AsyncClient) -> None:
    info = (await tgi.get("/info")).json()
    expected = "model_id model_sha model_pipeline_tag max_concurrent_requests max_best_of max_stop_sequences "
    expected += (
        "max_input_tokens max_total_tokens validation_workers max_client_batch_size router version sha docker_label"
    )
    assert set(info) == set(expected.split())
    health = await tgi.get("/health")
    assert health.status_code == 200 and health.content == b""


async def test_generate_with_details(tgi: httpx.AsyncClient) -> None:
    body = {"inputs": "Question: anything\n", "parameters": {"max_new_tokens": 7, "details": True}}
    resp = await tgi.post("/generate", json=body)
    data = resp.json()
    assert data["details"]["generated_tokens"] == 7 and data["details"]["finish_reason"] == "length"
    assert data["generated_text"] == "".join(t["text"] for t in data["details"]["tokens"])
    assert resp.headers["x-generated-tokens"] == "7"


async def test_generate_stream_one_event_per_token_last_carries_the_text(tgi: httpx.AsyncClient) -> None:
    events = await stream(
        tgi, "/generate_stream", {"inputs": "hi", "parameters": {"max_new_tokens": 9, "details": True}}
    )
    assert len(events) == 9 and all(e.token for e in events)
    assert [e.done for e in events] == [False] * 8 + [True]
    assert events[-1].final_text == "".join(e.text for e in events) and events[-1].generated_tokens == 9


async def test_chat_completions_stream_and_not(tgi: httpx.AsyncClient) -> None:
    body = {"model": "tgi", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    events = await stream(tgi, "/v1/chat/completions", body | {"stream": True})
    assert events[-1].done and sum(e.token for e in events) == 5
    data = (await tgi.post("/v1/chat/completions", json=body)).json()
    assert data["object"] == "chat.completion" and data["usage"]["completion_tokens"] == 5
    assert data["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": "", "parameters": {"max_new_tokens": 5}}, "cannot be empty"),
        ({"inputs": "x" * 8000, "parameters": {"max_new_tokens": 5}}, "must have less than 1024 tokens"),
        ({"inputs": "hi", "parameters": {"max_new_tokens": 4000}}, "must be <= 2048"),
    ],
)
async def test_validation_errors_are_422_like_tgi(
    tgi: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    for path in ("/generate", "/generate_stream"):
        resp = await tgi.post(path, json=body)
        assert resp.status_code == 422 and resp.json()["error_type"] == "validation"
        assert message in resp.json()["error"]
    assert 'tgi_request_failure{err="validation"} 2' in (await tgi.get("/metrics")).text


async def test_overloaded_beyond_max_concurrent_requests() -> None:
    emulator = Emulator(profile_for("a10", "eetq").override({"latency_scale": "0.2"}), max_concurrent_requests=1)
    async for client in serve(emulator):
        slow = asyncio.create_task(client.post("/generate", json={"inputs": "a", "parameters": {"max_new_tokens": 50}}))
        while emulator.in_flight == 0:
            await asyncio.sleep(0.01)
        second = await client.post("/generate", json={"inputs": "b", "parameters": {"max_new_tokens": 5}})
        assert second.status_code == 429 and second.json() == {
            "error": "Model is overloaded",
            "error_type": "overloaded",
        }
        assert (await slow).status_code == 200


async def test_errors_mid_stream_and_disconnects_are_injected_and_counted() -> None:
    emulator = Emulator(profile_for("a10", "eetq").override(FAST | {"error_rate": "1", "error_kinds": "generation"}))
    async for client in serve(emulator):
        events = await stream(client, "/generate_stream", {"inputs": "hi", "parameters": {"max_new_tokens": 20}})
        assert events[-1].error_type == "generation" and not any(e.done for e in events)
        assert (await client.get("/health")).status_code == 503
        emulator.profile = emulator.profile.override({"error_kinds": "disconnect"})
        events = await stream(client, "/generate_stream", {"inputs": "hi", "parameters": {"max_new_tokens": 20}})
        assert events[-1].error_type == "disconnect" and not any(e.done for e in events)
        metrics = (await client.get("/metrics")).text
        assert 'tgi_request_failure{err="generation"} 1' in metrics
        assert 'tgi_request_failure{err="incomplete"} 1' in metrics


async def test_metrics_have_tgi_names_types_and_buckets(tgi: httpx.AsyncClient) -> None:
    for _ in range(3):
        await tgi.post("/generate", json={"inputs": "hi", "parameters": {"max_new_tokens": 4}})
    text = (await tgi.get("/metrics")).text
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for name in ("tgi_request_count", "tgi_request_success"):
        assert types[name] == "counter" and not name.endswith("_total")
    for name in ("tgi_queue_size", "tgi_batch_current_size", "tgi_batch_max_total_tokens"):
        assert types[name] == "gauge"
    for name in (
        "tgi_request_duration",
        "tgi_request_queue_duration",
        "tgi_request_mean_time_per_token_duration",
        "tgi_request_generated_tokens",
        "tgi_request_input_length",
    ):
        assert types[name] == "histogram"
    assert re.search(r"^tgi_request_count 3$", text, re.M) and re.search(r"^tgi_request_success 3$", text, re.M)
    buckets = re.findall(r'^tgi_request_duration_bucket\{le="([^"]+)"\}', text, re.M)
    assert len(buckets) == 36 and buckets[0] == "0.00015" and buckets[-1] == "+Inf"
    assert re.search(r"^tgi_request_generated_tokens_sum 12$", text, re.M)


async def test_truth_is_recorded_per_request_and_can_be_reset(tgi: httpx.AsyncClient) -> None:
    await tgi.post("/generate", json={"inputs": "hi", "parameters": {"max_new_tokens": 6}})
    (record,) = (await tgi.get("/emulator/requests")).json()
    assert record["generated_tokens"] == 6 and record["status"] == 200
    assert 0 < record["ttft_ms"] <= record["duration_ms"]
    await tgi.delete("/emulator/requests")
    assert (await tgi.get("/emulator/requests")).json() == []


async def test_profile_can_be_changed_live_and_bad_fields_are_refused(tgi: httpx.AsyncClient) -> None:
    assert (await tgi.patch("/emulator/profile", json={"accuracy": 0.2})).json()["accuracy"] == 0.2
    bad = await tgi.patch("/emulator/profile", json={"speed": 2})
    assert bad.status_code == 400 and "unknown profile field 'speed'" in bad.json()["error"]


@pytest.mark.parametrize(("accuracy", "expect_correct"), [("1.0", True), ("0.0", False)])
async def test_answer_model_is_scored_by_the_real_scorer(accuracy: str, expect_correct: bool) -> None:
    examples = load_dataset("builtin:text-to-sql")[:15]
    async for client in serve(Emulator(profile_for("a10", "eetq").override(FAST | {"accuracy": accuracy}))):
        for ex in examples:
            body = {"inputs": prompt_for(ex), "parameters": {"max_new_tokens": 256}}
            text = (await client.post("/generate", json=body)).json()["generated_text"]
            assert execution_match(ex.context, ex.answer, extract_sql(text)).correct is expect_correct, text


async def test_served_answers_carry_the_profiles_discordance() -> None:
    # The emulator must serve the answer model with the profile's discordance: a 4-bit profile gains
    # some questions the reference configuration misses, which a nested model never does.
    examples = load_dataset("builtin:text-to-sql")
    profile = profile_for("a10", "bitsandbytes-nf4").override(FAST)
    assert profile.discordance > 0
    right = {}
    async for client in serve(Emulator(profile)):
        replies = await asyncio.gather(
            *(
                client.post("/generate", json={"inputs": prompt_for(ex), "parameters": {"max_new_tokens": 256}})
                for ex in examples
            )
        )
        for ex, reply in zip(examples, replies, strict=True):
            sql = extract_sql(reply.json()["generated_text"])
            right[ex.prompt] = execution_match(ex.context, ex.answer, sql).correct
    reference = {ex.prompt: knows(ex.prompt, REFERENCE_ACCURACY, 0, 0.0) for ex in examples}
    gains = sum(right[q] and not reference[q] for q in right)
    losses = sum(reference[q] and not right[q] for q in right)
    assert gains > 0 and losses > gains, (gains, losses)


async def test_bad_json_body_is_a_422(tgi: httpx.AsyncClient) -> None:
    resp = await tgi.post("/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 422 and json.loads(resp.text)["error_type"] == "validation"
