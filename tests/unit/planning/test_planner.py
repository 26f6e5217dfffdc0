"""The planner: the guide's hardware table as TGI corrects it, memory math, recommendations, config.json lookup."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantop.api import GpuProfile, Objective, QuantizationMethod, Reason
from quantop.api.spec import ModelArchitecture, ModelSource
from quantop.planning import (
    GPU_CATALOG,
    Level,
    PlanningError,
    assess_all,
    assess_method,
    lookup_model,
    recommend,
    resolve_architecture,
    resolve_gpu,
    weight_bytes,
)

Q = QuantizationMethod
PHI = lookup_model("microsoft/Phi-3.5-mini-instruct")
assert PHI is not None
GIB = 1024**3


def level(method: Q, gpu: str, model_id: str = "microsoft/Phi-3.5-mini-instruct") -> Level:
    model = lookup_model(model_id)
    assert model is not None
    return assess_method(model, GPU_CATALOG[gpu], method).level


@pytest.mark.parametrize(
    ("method", "gpu", "expected"),
    [
        # The guide's table ...
        pytest.param(Q.FP8, "h100", Level.OK, id="fp8-h100-native"),
        pytest.param(Q.FP8, "a100-80gb", Level.WARN, id="fp8-a100-partial"),
        pytest.param(Q.FP8, "t4", Level.NO, id="fp8-t4"),
        pytest.param(Q.FP8, "v100", Level.NO, id="fp8-v100"),
        pytest.param(Q.BITSANDBYTES_NF4, "t4", Level.WARN, id="int4-t4-partial"),
        pytest.param(Q.BITSANDBYTES_NF4, "v100", Level.NO, id="int4-v100"),
        pytest.param(Q.EETQ, "v100", Level.WARN, id="int8-v100-partial"),
        pytest.param(Q.EETQ, "t4", Level.OK, id="int8-t4"),
        pytest.param(Q.NONE, "v100", Level.OK, id="fp16-v100"),
        # ... corrected by TGI: fp8 on 8.x runs weight-only Marlin, so the guide's A10 fp8 row exists.
        pytest.param(Q.FP8, "a10", Level.WARN, id="fp8-a10-weight-only"),
        pytest.param(Q.FP8, "l4", Level.WARN, id="fp8-l4-marlin-unless-cutlass"),
        pytest.param(Q.MARLIN, "t4", Level.NO, id="marlin-needs-8.0"),
        pytest.param(Q.GPTQ, "a10", Level.NO, id="gptq-needs-gptq-checkpoint"),
    ],
)
def test_compatibility_table(method: Q, gpu: str, expected: Level) -> None:
    assert level(method, gpu) == expected


def test_prequantized_checkpoints_unlock_their_method_only() -> None:
    assert level(Q.AWQ, "a10", "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4") == Level.OK
    assert level(Q.GPTQ, "a10", "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4") == Level.NO
    assert level(Q.AWQ, "t4", "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4") == Level.WARN


def test_fp8_messages_say_why() -> None:
    a10 = assess_method(PHI, GPU_CATALOG["a10"], Q.FP8)
    assert "weight-only" in a10.message and "no FP8 compute speed-up" in a10.message
    assert a10.reason == Reason.SUPPORTED_WITH_CAVEATS
    t4 = assess_method(PHI, GPU_CATALOG["t4"], Q.FP8)
    assert t4.reason == Reason.METHOD_UNSUPPORTED_ON_GPU and "use eetq, bitsandbytes or" in t4.message


def test_weights_follow_bits_and_keep_embeddings_in_16_bit() -> None:
    fp16 = weight_bytes(PHI, Q.NONE)
    assert fp16 == pytest.approx(3.82e9 * 2)
    embeddings = 32064 * 3072 * 2
    assert weight_bytes(PHI, Q.EETQ) == pytest.approx((3.82e9 - embeddings) * 1 + embeddings * 2)
    assert weight_bytes(PHI, Q.BITSANDBYTES_NF4) < weight_bytes(PHI, Q.EETQ) < fp16


def test_kv_cache_from_the_architecture() -> None:
    a = assess_method(PHI, GPU_CATALOG["a10"], Q.NONE, kv_tokens=8192)
    # 2 (K,V) x 32 layers x 32 kv heads x 96 head dim x 2 bytes = 393216 bytes per token
    assert a.kv_cache_gib == pytest.approx(393216 * 8192 / GIB, abs=0.01)


def test_70b_on_one_t4_fits_no_method() -> None:
    model = lookup_model("meta-llama/Llama-3.1-70B-Instruct")
    assert model is not None
    rows = assess_all(model, GPU_CATALOG["t4"])
    assert all(not a.usable for a in rows)
    assert {
        a.reason for a in rows if a.method not in (Q.GPTQ, Q.AWQ, Q.MARLIN, Q.EXL2, Q.COMPRESSED_TENSORS, Q.FP8)
    } == {Reason.INSUFFICIENT_GPU_MEMORY}
    assert recommend(rows, Objective.MEMORY) is None


def test_70b_fits_four_bit_on_an_h100_but_not_fp16() -> None:
    model = lookup_model("meta-llama/Llama-3.1-70B-Instruct")
    assert model is not None
    assert assess_method(model, GPU_CATALOG["h100"], Q.NONE).fits is False
    assert assess_method(model, GPU_CATALOG["h100"], Q.BITSANDBYTES_NF4).fits is True
    assert assess_method(model, GPU_CATALOG["h100"], Q.NONE, gpu_count=2).fits is True


@pytest.mark.parametrize(
    ("gpu", "objective", "method"),
    [
        ("h100", Objective.LATENCY, Q.FP8),
        ("a10", Objective.LATENCY, Q.EETQ),  # fp8 only weight-only there: the fully supported method wins
        ("a10", Objective.MEMORY, Q.BITSANDBYTES_NF4),
        ("t4", Objective.COST, Q.EETQ),
        ("t4", Objective.EDGE, Q.BITSANDBYTES_NF4),
    ],
)
def test_recommendation_follows_the_decision_matrix(gpu: str, objective: Objective, method: Q) -> None:
    choice = recommend(assess_all(PHI, GPU_CATALOG[gpu]), objective)
    assert choice is not None and choice.method == method


@given(
    st.sampled_from(list(GPU_CATALOG)),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=64, max_value=200_000),
)
def test_fit_is_monotone_in_gpus_and_bits(gpu: str, count: int, kv_tokens: int) -> None:
    model = lookup_model("meta-llama/Llama-3.1-8B-Instruct")
    assert model is not None
    for method in Q:
        one = assess_method(model, GPU_CATALOG[gpu], method, gpu_count=count, kv_tokens=kv_tokens)
        more = assess_method(model, GPU_CATALOG[gpu], method, gpu_count=count + 1, kv_tokens=kv_tokens)
        assert not one.fits or more.fits
    assert weight_bytes(model, Q.BITSANDBYTES_NF4) <= weight_bytes(model, Q.EETQ) <= weight_bytes(model, Q.NONE)


def test_profile_overrides_memory_and_price_and_unknown_gpus_are_named() -> None:
    gpu = resolve_gpu(GpuProfile(gpu="a10", memoryGiB=22, price_per_hour=1.0))
    assert (gpu.memory_gib, gpu.price_per_hour) == (22, 1.0)
    with pytest.raises(PlanningError, match="b200"):
        resolve_gpu(GpuProfile(gpu="b200"))


class _Hub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {
            "/org/good/resolve/main/config.json": (
                200,
                json.dumps(
                    {
                        "hidden_size": 2048,
                        "num_hidden_layers": 16,
                        "num_attention_heads": 16,
                        "num_key_value_heads": 4,
                        "vocab_size": 32000,
                        "intermediate_size": 5632,
                        "quantization_config": {"quant_method": "awq"},
                    }
                ),
            ),
            "/org/broken/resolve/main/config.json": (200, "{not json"),
            "/org/partial/resolve/main/config.json": (200, json.dumps({"hidden_size": 10})),
        }.get(self.path, (404, "not found"))
        self.send_response(body[0])
        self.end_headers()
        self.wfile.write(body[1].encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_config_json_from_a_local_hub(hub: str) -> None:
    info = resolve_architecture(ModelSource(id="org/good"), hub_url=hub)
    assert (info.num_layers, info.num_key_value_heads, info.head_dim, info.source) == (16, 4, 128, "config.json")
    assert info.quantized_format == Q.AWQ
    per_layer = 2048 * 2048 * 2 + 2048 * 512 * 2 + 3 * 2048 * 5632  # q,o + k,v (4 kv heads x 128) + gated MLP
    assert info.parameters_billions == pytest.approx((16 * per_layer + 32000 * 2048 * 2) / 1e9)


@pytest.mark.parametrize("model_id", ["org/missing", "org/broken", "org/partial"])
def test_bad_config_json_says_set_the_architecture(hub: str, model_id: str) -> None:
    with pytest.raises(PlanningError) as err:
        resolve_architecture(ModelSource(id=model_id), hub_url=hub)
    assert err.value.reason == Reason.UNKNOWN_MODEL_ARCHITECTURE
    assert "spec.model.architecture" in err.value.message


def test_spec_architecture_overrides_everything() -> None:
    src = ModelSource(
        id="org/private",
        architecture=ModelArchitecture(parameters_billions=2, num_layers=4, num_key_value_heads=2, head_dim=64),
    )
    assert resolve_architecture(src, hub_url="http://127.0.0.1:9").parameters_billions == 2


def _plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quantop.cli", "plan", *args], capture_output=True, text=True, check=False
    )


def test_cli_plan_shows_fp8_weight_only_on_a10_and_refused_on_t4() -> None:
    a10 = _plan("--model", "microsoft/Phi-3.5-mini-instruct", "--gpu", "a10")
    assert a10.returncode == 0
    lines = a10.stdout.splitlines()
    fp8 = next(i for i, line in enumerate(lines) if line.split()[1:2] == ["fp8"])
    assert lines[fp8].startswith("⚠️") and "weight-only" in lines[fp8 + 1], "the why follows on its own line"
    t4 = _plan("--model", "microsoft/Phi-3.5-mini-instruct", "--gpu", "t4", "-o", "json")
    rows = {r["method"]: r for r in json.loads(t4.stdout)["methods"]}
    assert rows["fp8"]["level"] == "no" and rows["eetq"]["level"] == "ok"


def test_cli_plan_bad_input_exits_2_without_a_traceback() -> None:
    for args in (
        ["--model", "microsoft/Phi-3.5-mini-instruct", "--gpu", "b200"],
        ["--model", "x/y", "--gpu", "a10", "--hub-url", "http://127.0.0.1:9"],
    ):
        res = _plan(*args)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert res.stderr.strip().splitlines()[-1].startswith("quantop plan: ")


def test_docs_matrix_is_generated_from_the_code() -> None:
    from tests.conftest import ROOT

    from quantop.planning.matrix import compatibility_markdown

    assert compatibility_markdown() in (ROOT / "docs" / "planner.md").read_text(), (
        "docs/planner.md drifted: run `make generate`"
    )
