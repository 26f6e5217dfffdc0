"""Model architecture: from the spec, a built-in table of well-known models, or the model's config.json."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from quantop.api import QuantizationMethod, Reason
from quantop.api.spec import ModelSource

from .catalog import PlanningError


class UnknownArchitecture(PlanningError):
    """No architecture for the model; ``why`` says what failed, so each caller can name its own fix."""

    def __init__(self, model_id: str, why: str) -> None:
        super().__init__(
            Reason.UNKNOWN_MODEL_ARCHITECTURE,
            f"architecture of {model_id} is unknown ({why}): set spec.model.architecture "
            "(parametersBillions, numLayers, numKeyValueHeads, headDim)",
        )
        self.model_id = model_id
        self.why = why


@dataclass(frozen=True)
class ModelInfo:
    id: str
    parameters_billions: float
    num_layers: int
    num_key_value_heads: int
    head_dim: int
    hidden_size: int = 0
    vocab_size: int = 0
    tied_embeddings: bool = False
    quantized_format: QuantizationMethod | None = None
    source: str = "table"

    @property
    def embedding_params(self) -> float:
        """Embedding and lm_head parameters: TGI keeps them in 16-bit whatever the method."""
        return float(self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2))

    @property
    def kv_bytes_per_token(self) -> int:
        return 2 * self.num_layers * self.num_key_value_heads * self.head_dim * 2  # K and V, fp16


def _m(
    mid: str,
    b: float,
    layers: int,
    kv: int,
    hd: int,
    hidden: int,
    vocab: int,
    tied: bool = False,
    fmt: QuantizationMethod | None = None,
) -> ModelInfo:
    return ModelInfo(mid, b, layers, kv, hd, hidden, vocab, tied, fmt)


Q = QuantizationMethod
_TABLE = [
    _m("microsoft/Phi-3.5-mini-instruct", 3.82, 32, 32, 96, 3072, 32064),
    _m("microsoft/Phi-3-mini-4k-instruct", 3.82, 32, 32, 96, 3072, 32064),
    _m("meta-llama/Llama-3.1-8B-Instruct", 8.03, 32, 8, 128, 4096, 128256),
    _m("meta-llama/Llama-3.1-8B", 8.03, 32, 8, 128, 4096, 128256),
    _m("meta-llama/Llama-3.1-70B-Instruct", 70.6, 80, 8, 128, 8192, 128256),
    _m("meta-llama/Llama-3.1-70B", 70.6, 80, 8, 128, 8192, 128256),
    _m("mistralai/Mistral-7B-Instruct-v0.3", 7.25, 32, 8, 128, 4096, 32768),
    _m("Qwen/Qwen2.5-1.5B-Instruct", 1.54, 28, 2, 128, 1536, 151936, tied=True),
    _m("Qwen/Qwen2.5-7B-Instruct", 7.62, 28, 4, 128, 3584, 152064),
    _m("Qwen/Qwen2.5-72B-Instruct", 72.7, 80, 8, 128, 8192, 152064),
    # Checkpoints already quantized: the methods that need one accept only these (or spec.model.quantizedFormat).
    _m("hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", 8.03, 32, 8, 128, 4096, 128256, fmt=Q.AWQ),
    _m("hugging-quants/Meta-Llama-3.1-8B-Instruct-GPTQ-INT4", 8.03, 32, 8, 128, 4096, 128256, fmt=Q.GPTQ),
    _m("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", 70.6, 80, 8, 128, 8192, 128256, fmt=Q.AWQ),
    _m("neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8", 8.03, 32, 8, 128, 4096, 128256, fmt=Q.COMPRESSED_TENSORS),
    _m("TheBloke/Mistral-7B-Instruct-v0.2-GPTQ", 7.24, 32, 8, 128, 4096, 32000, fmt=Q.GPTQ),
    _m("Qwen/Qwen2.5-7B-Instruct-AWQ", 7.62, 28, 4, 128, 3584, 152064, fmt=Q.AWQ),
]
MODEL_TABLE: dict[str, ModelInfo] = {m.id.lower(): m for m in _TABLE}


def lookup_model(model_id: str) -> ModelInfo | None:
    return MODEL_TABLE.get(model_id.lower())


#: A config.json is a few kB; anything larger is not one (and is not parsed).
MAX_CONFIG_BYTES = 1024 * 1024
#: The whole config.json download, first byte to last (httpx's timeout applies per read).
FETCH_DEADLINE_S = 10.0
#: Shapes beyond these are not a model that fits any GPU quantop knows: a typo or a hostile file.
_SHAPE_LIMITS = {
    "hidden_size": 1 << 17,
    "num_hidden_layers": 4096,
    "num_attention_heads": 4096,
    "num_key_value_heads": 4096,
    "head_dim": 4096,
    "vocab_size": 1 << 22,
    "intermediate_size": 1 << 20,
}


def _shape(config: dict[str, Any], key: str, default: int | None = None) -> int:
    value = config.get(key) or default
    if value is None:
        raise KeyError(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _SHAPE_LIMITS[key]:
        raise ValueError(f"{key} = {str(value)[:40]!r} is not an integer in 1..{_SHAPE_LIMITS[key]}")
    return value


def from_config(model_id: str, config: dict[str, Any]) -> ModelInfo:
    """Architecture from a Hugging Face config.json; parameters estimated from the shapes."""
    try:
        hidden = _shape(config, "hidden_size")
        layers = _shape(config, "num_hidden_layers")
        heads = _shape(config, "num_attention_heads")
        kv = _shape(config, "num_key_value_heads", heads)
        head_dim = _shape(config, "head_dim", max(hidden // heads, 1))
        vocab = _shape(config, "vocab_size", 32000)
        inter = _shape(config, "intermediate_size", 4 * hidden)
    except KeyError as exc:
        raise UnknownArchitecture(model_id, f"config.json lacks {exc}") from None
    except ValueError as exc:
        raise UnknownArchitecture(model_id, f"config.json: {exc}") from None
    tied = bool(config.get("tie_word_embeddings", False))
    per_layer = hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2 + 3 * hidden * inter
    params = layers * per_layer + vocab * hidden * (1 if tied else 2)
    fmt = None
    quantization = config.get("quantization_config")
    method = quantization.get("quant_method") if isinstance(quantization, dict) else None
    if method in {m.value for m in QuantizationMethod}:
        fmt = QuantizationMethod(method)
    return ModelInfo(model_id, params / 1e9, layers, kv, head_dim, hidden, vocab, tied, fmt, source="config.json")


def _override(model: ModelSource) -> ModelInfo | None:
    base = lookup_model(model.id)
    a = model.architecture
    if a is None:
        if base is not None and model.quantized_format is not None:
            return ModelInfo(**{**base.__dict__, "quantized_format": model.quantized_format})
        return None
    return ModelInfo(
        model.id,
        a.parameters_billions,
        a.num_layers,
        a.num_key_value_heads,
        a.head_dim,
        base.hidden_size if base else 0,
        base.vocab_size if base else 0,
        base.tied_embeddings if base else False,
        model.quantized_format or (base.quantized_format if base else None),
        source="spec",
    )


def _config_url(hub_url: str, model: ModelSource) -> str:
    return f"{hub_url.rstrip('/')}/{model.id}/resolve/{model.revision}/config.json"


def _unknown(model: ModelSource, why: str) -> PlanningError:
    return UnknownArchitecture(model.id, why)


def _config_object(model: ModelSource, raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_CONFIG_BYTES:
        raise _unknown(model, f"config.json is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise _unknown(model, "config.json is not JSON") from None
    if not isinstance(data, dict):
        raise _unknown(model, "config.json is not an object")
    return data


def _parse(model: ModelSource, raw: bytes) -> ModelInfo:
    info = from_config(model.id, _config_object(model, raw))
    if model.quantized_format is not None:
        info = ModelInfo(**{**info.__dict__, "quantized_format": model.quantized_format})
    return info


class _Body:
    """A capped body with a deadline for the whole transfer: a Hub (or proxy) that drips bytes or never
    stops must not hold a reconcile, and the read timeout alone restarts with every byte."""

    def __init__(self, model: ModelSource, response: httpx.Response, deadline_s: float) -> None:
        if response.status_code != 200:
            raise _unknown(model, f"config.json answered HTTP {response.status_code}")
        self.model, self.data, self.deadline_s = model, bytearray(), deadline_s
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_CONFIG_BYTES:
            raise _unknown(
                model, f"config.json is larger than {MAX_CONFIG_BYTES // 1024} KiB ({declared} bytes declared)"
            )
        self.deadline = time.monotonic() + deadline_s

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > MAX_CONFIG_BYTES:
            raise _unknown(self.model, f"config.json is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        if time.monotonic() > self.deadline:
            raise _unknown(self.model, f"config.json took longer than {self.deadline_s:g} s")


def resolve_architecture(
    model: ModelSource,
    *,
    hub_url: str = "https://huggingface.co",
    client: httpx.Client | None = None,
    timeout: float = 5.0,
    deadline_s: float = FETCH_DEADLINE_S,
) -> ModelInfo:
    """spec override > built-in table > config.json from the hub (never needed for table models)."""
    known = _override(model) or lookup_model(model.id)
    if known is not None:
        return known
    try:
        with contextlib.ExitStack() as stack:
            c = client if client is not None else stack.enter_context(httpx.Client(timeout=timeout))
            response = stack.enter_context(c.stream("GET", _config_url(hub_url, model)))
            body = _Body(model, response, deadline_s)
            for chunk in response.iter_bytes():
                body.add(chunk)
    except httpx.HTTPError as exc:
        raise _unknown(model, f"cannot fetch config.json: {type(exc).__name__}") from None
    return _parse(model, bytes(body.data))


async def resolve_architecture_async(
    model: ModelSource,
    *,
    hub_url: str = "https://huggingface.co",
    client: httpx.AsyncClient | None = None,
    timeout: float = 5.0,
    deadline_s: float = FETCH_DEADLINE_S,
) -> ModelInfo:
    """The same, without blocking the operator's event loop."""
    known = _override(model) or lookup_model(model.id)
    if known is not None:
        return known
    try:
        async with contextlib.AsyncExitStack() as stack:
            c = client if client is not None else await stack.enter_async_context(httpx.AsyncClient(timeout=timeout))
            response = await stack.enter_async_context(c.stream("GET", _config_url(hub_url, model)))
            body = _Body(model, response, deadline_s)
            async for chunk in response.aiter_bytes():
                body.add(chunk)
    except httpx.HTTPError as exc:
        raise _unknown(model, f"cannot fetch config.json: {type(exc).__name__}") from None
    return _parse(model, bytes(body.data))


def from_config_file(model: ModelSource, path: Path) -> ModelInfo:
    """Architecture from a config.json on disk, for offline planning: capped, parsed, shape-checked."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise _unknown(model, f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    info = from_config(model.id, _config_object(model, raw))
    return replace(info, source=str(path), quantized_format=model.quantized_format or info.quantized_format)
