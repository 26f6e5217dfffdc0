"""The vLLM emulator through the real `openai` client: completions and chat, streamed and not, usage,
errors as vLLM words them, and /metrics with vLLM's own names and types."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from quantop.sandbox.processes import free_port, quantop_command
from quantop.sandbox.vllm_emulator.metrics import buckets_1_2_5
from quantop.sandbox.vllm_emulator.process import vllm_emulator

MODEL = "microsoft/Phi-3.5-mini-instruct"
CHAT = [{"role": "user", "content": "Question: hi\n"}]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with vllm_emulator("--profile", "a10-eetq", "--set", "latency_scale=0.02", "--max-total-tokens", "2048") as base:
        yield base


@pytest.fixture
def client(url: str) -> OpenAI:
    return OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def test_completions_whole_and_streamed(client: OpenAI) -> None:
    out = client.completions.create(model=MODEL, prompt="Question: hi\n", max_tokens=6)
    assert out.object == "text_completion" and out.choices[0].finish_reason == "length"
    assert out.usage is not None and out.usage.completion_tokens == 6
    assert out.usage.total_tokens == out.usage.prompt_tokens + 6
    chunks = list(
        client.completions.create(
            model=MODEL, prompt="Question: hi\n", max_tokens=6, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == out.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


def test_completions_default_to_16_tokens(client: OpenAI) -> None:
    out = client.completions.create(model=MODEL, prompt="Question: hi\n")
    assert out.usage is not None and out.usage.completion_tokens == 16


def test_chat_whole_and_streamed_with_usage(client: OpenAI) -> None:
    out = client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=5)  # type: ignore[arg-type]
    assert out.choices[0].message.role == "assistant" and out.usage is not None and out.usage.completion_tokens == 5
    stream = client.chat.completions.create(
        model=MODEL,
        messages=CHAT,  # type: ignore[arg-type]
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == out.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    without_usage = list(
        client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=3, stream=True)  # type: ignore[arg-type]
    )
    assert all(c.usage is None for c in without_usage)


def test_models_lists_the_served_model_with_its_length(client: OpenAI, url: str) -> None:
    assert [m.id for m in client.models.list()] == [MODEL]
    assert httpx.get(f"{url}/v1/models").json()["data"][0]["max_model_len"] == 2048


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        pytest.param({"max_tokens": 4000}, openai.BadRequestError, "maximum context length is 2048", id="too-long"),
        pytest.param({"max_tokens": 0}, openai.BadRequestError, "at least 1", id="zero-tokens"),
        pytest.param({"model": "gpt-4"}, openai.NotFoundError, "The model `gpt-4` does not exist", id="wrong-model"),
        pytest.param({"prompt": ""}, openai.BadRequestError, "non-empty", id="empty-prompt"),
    ],
)
def test_bad_input_is_a_vllm_error(
    client: OpenAI, kwargs: dict[str, object], error: type[Exception], says: str
) -> None:
    args: dict[str, object] = {"model": MODEL, "prompt": "Question: hi\n", "max_tokens": 4, **kwargs}
    with pytest.raises(error) as caught:
        client.completions.create(**args)  # type: ignore[call-overload]
    assert says in str(caught.value)


def test_chat_without_messages_and_non_json_are_400(client: OpenAI, url: str) -> None:
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model=MODEL, messages=[], max_tokens=4)
    answer = httpx.post(f"{url}/v1/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "BadRequestError"


def test_failure_mid_stream_reaches_the_client_as_an_error(url: str, client: OpenAI) -> None:
    httpx.patch(f"{url}/emulator/profile", json={"error_rate": "0.999", "error_kinds": "generation"})
    try:
        with pytest.raises(openai.APIError, match="failed during generation"):
            list(client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=8, stream=True))  # type: ignore[arg-type]
        with pytest.raises(openai.InternalServerError):
            client.completions.create(model=MODEL, prompt="Question: hi\n", max_tokens=8)
    finally:
        httpx.patch(f"{url}/emulator/profile", json={"error_rate": "0"})


def test_metrics_carry_vllms_names_types_and_labels(client: OpenAI, url: str) -> None:
    client.completions.create(model=MODEL, prompt="Question: hi\n", max_tokens=4)
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)}
    expected = {
        "vllm:e2e_request_latency_seconds": "histogram",
        "vllm:time_to_first_token_seconds": "histogram",
        "vllm:inter_token_latency_seconds": "histogram",
        "vllm:num_requests_running": "gauge",
        "vllm:num_requests_waiting": "gauge",
        "vllm:kv_cache_usage_perc": "gauge",
        "vllm:prompt_tokens": "counter",
        "vllm:generation_tokens": "counter",
        "vllm:request_success": "counter",
        "http_requests": "counter",
    }
    assert {name: families[name].type for name in expected} == expected
    e2e = families["vllm:e2e_request_latency_seconds"].samples
    count = next(s for s in e2e if s.name.endswith("_count"))
    assert count.labels == {"model_name": MODEL, "engine": "0"} and count.value >= 1
    generated = next(iter(families["vllm:generation_tokens"].samples))
    assert generated.value >= 4
    statuses = {s.labels["status"] for s in families["http_requests"].samples if s.name.endswith("_total")}
    assert "2xx" in statuses


def test_emulate_engine_tgi_serves_tgis_api() -> None:
    port = free_port()
    proc = subprocess.Popen(
        quantop_command("emulate", "--engine", "tgi", "--port", str(port), "--set", "latency_scale=0.02"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        info = _wait_for(f"http://127.0.0.1:{port}/info", proc)
        assert info["router"] == "text-generation-router" and info["max_total_tokens"] == 2048
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_for(url: str, proc: subprocess.Popen[bytes]) -> dict[str, object]:
    """The JSON at url once the server answers; fails as soon as the process exits."""
    while True:
        try:
            answer: dict[str, object] = httpx.get(url, timeout=1).json()
            return answer
        except httpx.HTTPError:
            assert proc.poll() is None, "quantop emulate --engine tgi exited"
            time.sleep(0.1)


def test_token_histograms_use_vllms_1_2_5_buckets() -> None:
    assert buckets_1_2_5(2048) == (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
