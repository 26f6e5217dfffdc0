"""The emulator through the clients people point at TGI: text-generation, huggingface_hub's InferenceClient, openai.

If these parse its answers (streamed and not), the payloads are TGI's, not merely similar.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI
from text_generation import Client as TgiClient
from text_generation.errors import ValidationError
from text_generation.types import FinishReason

from quantop.sandbox.processes import tgi_emulator

# text-generation 0.7 still calls pydantic v1 API (`.dict()`): its warning, not ours.
OLD_PYDANTIC_API = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with tgi_emulator("--profile", "a10-eetq", "--set", "latency_scale=0.02") as base:
        yield base


def test_huggingface_inference_client_text_generation(url: str) -> None:
    client = InferenceClient(base_url=url)
    out = client.text_generation("Question: hi\n", max_new_tokens=6, details=True)
    assert out.details is not None and out.details.generated_tokens == 6
    assert out.details.finish_reason == "length" and out.generated_text
    streamed = list(client.text_generation("hi", max_new_tokens=5, stream=True, details=True))
    assert len(streamed) == 5 and streamed[-1].generated_text == "".join(s.token.text for s in streamed)
    assert streamed[-1].details is not None and streamed[-1].details.generated_tokens == 5


def test_huggingface_inference_client_chat(url: str) -> None:
    client = InferenceClient(base_url=url)
    out = client.chat_completion([{"role": "user", "content": "hi"}], max_tokens=4)
    assert out.choices[0].message.content and out.usage.completion_tokens == 4
    chunks = list(client.chat_completion([{"role": "user", "content": "hi"}], max_tokens=4, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == out.choices[0].message.content


def test_openai_client_chat(url: str) -> None:
    client = OpenAI(base_url=f"{url}/v1", api_key="unused")
    out = client.chat.completions.create(model="tgi", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert out.choices[0].finish_reason == "length" and out.usage is not None and out.usage.completion_tokens == 4
    stream = client.chat.completions.create(
        model="tgi", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text == out.choices[0].message.content
    assert [m.id for m in client.models.list()] == ["microsoft/Phi-3.5-mini-instruct"]


def test_openai_client_sees_tgi_errors(url: str) -> None:
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="tgi", messages=[{"role": "user", "content": "hi"}], max_tokens=100000)


@OLD_PYDANTIC_API
def test_text_generation_client_on_tgis_compat_route(url: str) -> None:
    """TGI's own client posts to `/` and reads `payload[0]`: the route answers a list, or SSE when streamed."""
    client = TgiClient(url, timeout=30)
    out = client.generate("Question: hi\n", max_new_tokens=6)
    assert out.generated_text and out.details.generated_tokens == 6
    assert out.details.finish_reason == FinishReason.Length
    streamed = list(client.generate_stream("hi", max_new_tokens=5))
    assert len(streamed) == 5
    assert streamed[-1].generated_text == "".join(s.token.text for s in streamed)
    assert streamed[-1].details is not None and streamed[-1].details.generated_tokens == 5


@OLD_PYDANTIC_API
def test_compat_route_answers_tgis_shapes_and_keeps_errors_as_objects(url: str) -> None:
    import httpx

    plain = httpx.post(url, json={"inputs": "hi", "parameters": {"max_new_tokens": 3}}, timeout=30)
    assert plain.status_code == 200 and isinstance(plain.json(), list) and len(plain.json()) == 1
    assert set(plain.json()[0]) == {"generated_text"}
    bad = httpx.post(url, json={"inputs": "hi", "parameters": {"max_new_tokens": 100000}}, timeout=30)
    assert bad.status_code == 422 and bad.json()["error_type"] == "validation"
    with pytest.raises(ValidationError):
        TgiClient(url, timeout=30).generate("hi", max_new_tokens=100000)
