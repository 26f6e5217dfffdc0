"""vLLM's planner: method x compute capability from vLLM's kernels, checkpoint formats, and the KV cache
that --gpu-memory-utilization leaves after weights and activations, in sequences of maxTotalTokens."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from tests.conftest import ROOT, phi35_spec

from quantop.api import QuantizationMethod, default_config, parse_spec
from quantop.api.spec import AnyMethod, VllmOptions, VllmQuantization
from quantop.cli import main
from quantop.planning import GPU_CATALOG, Level, PlanningError, lookup_model, plan_spec, resolve_architecture
from quantop.planning.memory import GIB
from quantop.planning.vllm import (
    VLLM_BITS,
    context_problem,
    default_batched_tokens,
    vllm_compatibility,
    vllm_matrix_markdown,
    vllm_memory,
)

Q, V = QuantizationMethod, VllmQuantization
PHI = lookup_model("microsoft/Phi-3.5-mini-instruct")
LLAMA = lookup_model("meta-llama/Llama-3.1-8B-Instruct")
AWQ_LLAMA = lookup_model("hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4")
GPTQ_LLAMA = lookup_model("hugging-quants/Meta-Llama-3.1-8B-Instruct-GPTQ-INT4")
CT_LLAMA = lookup_model("neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8")
assert PHI and LLAMA and AWQ_LLAMA and GPTQ_LLAMA and CT_LLAMA


@pytest.mark.parametrize(
    ("method", "gpu", "model", "level", "says"),
    [
        pytest.param(Q.FP8, "h100", PHI, Level.OK, "native W8A8", id="fp8-hopper-native"),
        pytest.param(Q.FP8, "l4", PHI, Level.OK, "native W8A8", id="fp8-ada-native-unlike-tgi"),
        pytest.param(Q.FP8, "a10", PHI, Level.WARN, "weight-only Marlin", id="fp8-ampere-weight-only"),
        pytest.param(Q.FP8, "t4", PHI, Level.NO, "need compute capability 8.0+", id="fp8-turing-refused"),
        pytest.param(Q.FP8, "t4", PHI, Level.NO, "use bitsandbytes", id="fp8-turing-names-what-runs"),
        pytest.param(V.AWQ_MARLIN, "t4", AWQ_LLAMA, Level.OK, "Marlin", id="awq-marlin-turing"),
        pytest.param(V.AWQ_MARLIN, "v100", AWQ_LLAMA, Level.NO, "7.5+", id="awq-marlin-volta"),
        pytest.param(V.AWQ_MARLIN, "a10", PHI, Level.NO, "already quantized with awq", id="awq-marlin-needs-awq"),
        pytest.param(V.GPTQ_MARLIN, "a10", AWQ_LLAMA, Level.NO, "it is awq", id="gptq-marlin-on-awq-ckpt"),
        pytest.param(Q.AWQ, "a10", AWQ_LLAMA, Level.WARN, "use awq_marlin", id="plain-awq-slower"),
        pytest.param(Q.GPTQ, "v100", GPTQ_LLAMA, Level.WARN, "use gptq_marlin", id="plain-gptq-volta"),
        pytest.param(Q.BITSANDBYTES, "v100", PHI, Level.OK, "4 bit in flight", id="bnb-volta"),
        pytest.param(Q.COMPRESSED_TENSORS, "t4", CT_LLAMA, Level.WARN, "W4A16", id="ct-turing-partial"),
        pytest.param(Q.COMPRESSED_TENSORS, "h100", CT_LLAMA, Level.OK, "compressed-tensors", id="ct-hopper"),
        pytest.param(Q.FP8, "h100", AWQ_LLAMA, Level.NO, "use awq_marlin", id="fp8-on-awq-ckpt-names-awq-marlin"),
        pytest.param(Q.NONE, "a10", AWQ_LLAMA, Level.OK, "unquantized", id="none-reads-ckpt-format"),
        pytest.param(Q.NONE, "v100", PHI, Level.OK, "bfloat16 needs 8.0", id="none-volta-fp16"),
    ],
)
def test_vllm_kernels_per_compute_capability(method: AnyMethod, gpu: str, model: Any, level: Level, says: str) -> None:
    compat = vllm_compatibility(method, GPU_CATALOG[gpu], model)
    assert compat.level == level, compat.message
    assert says in compat.message


OPTS = VllmOptions()


@pytest.mark.parametrize(
    ("gpu", "tokens"),
    [
        pytest.param("h100", 8192, id="h100-large-defaults"),
        pytest.param("h200", 8192, id="h200-large-defaults"),
        pytest.param("a100-80gb", 2048, id="a100-excluded-by-vllm"),
        pytest.param("a10", 2048, id="small-gpu"),
    ],
)
def test_batch_defaults_follow_vllm(gpu: str, tokens: int) -> None:
    assert default_batched_tokens(GPU_CATALOG[gpu]) == tokens


def test_kv_cache_is_what_the_utilization_leaves_after_weights_and_activations() -> None:
    a10 = GPU_CATALOG["a10"]
    mem = vllm_memory(PHI, Q.FP8, a10, gpu_count=1, max_total_tokens=2048, options=OPTS)
    assert mem.budget_gib == pytest.approx(0.9 * a10.memory_gib, abs=0.01)
    assert mem.kv_cache_gib == pytest.approx(mem.budget_gib - mem.weights_gib - mem.overhead_gib, abs=0.02)
    assert mem.kv_tokens == pytest.approx(mem.kv_cache_gib * GIB / PHI.kv_bytes_per_token, rel=0.01)
    assert mem.sequences == mem.kv_tokens // 2048 and mem.fits


@pytest.mark.parametrize(
    ("change", "effect"),
    [
        pytest.param({"options": VllmOptions(gpu_memory_utilization=0.95)}, "more", id="higher-utilization"),
        pytest.param({"options": VllmOptions(gpu_memory_utilization=0.5)}, "fewer", id="lower-utilization"),
        pytest.param({"options": VllmOptions(kv_cache_dtype="fp8")}, "more", id="fp8-kv-cache"),
        pytest.param({"method": Q.NONE}, "fewer", id="fp16-weights"),
        pytest.param({"method": Q.BITSANDBYTES}, "more", id="4-bit-weights"),
        pytest.param({"max_total_tokens": 4096}, "fewer", id="longer-sequences"),
        pytest.param({"gpu_count": 2}, "more", id="tensor-parallel"),
        pytest.param({"batched_tokens": 16384}, "fewer", id="bigger-profiling-step"),
    ],
)
def test_concurrent_sequences_move_the_right_way(change: dict[str, Any], effect: str) -> None:
    base: dict[str, Any] = {"method": Q.FP8, "gpu_count": 1, "max_total_tokens": 2048, "options": OPTS}
    a10 = GPU_CATALOG["a10"]
    before = vllm_memory(PHI, base["method"], a10, **{k: v for k, v in base.items() if k != "method"})
    args = {**base, **change}
    after = vllm_memory(PHI, args.pop("method"), a10, **args)
    assert (after.sequences > before.sequences) if effect == "more" else (after.sequences < before.sequences)


def test_fp8_kv_cache_doubles_the_tokens() -> None:
    h100 = GPU_CATALOG["h100"]
    auto = vllm_memory(LLAMA, Q.FP8, h100, gpu_count=1, max_total_tokens=2048, options=OPTS)
    fp8 = vllm_memory(LLAMA, Q.FP8, h100, gpu_count=1, max_total_tokens=2048, options=VllmOptions(kv_cache_dtype="fp8"))
    assert fp8.kv_tokens == pytest.approx(2 * auto.kv_tokens, rel=0.001)


def _plan(**overrides: Any):  # type: ignore[no-untyped-def]
    spec = parse_spec(phi35_spec(engine="vllm", **overrides))
    profile = default_config().gpu_profiles[spec.gpu.type]
    return plan_spec(spec, profile, resolve_architecture(spec.model))


@pytest.mark.parametrize(
    ("overrides", "level", "reason", "says"),
    [
        pytest.param(
            {"quantization.method": "fp8"}, Level.WARN, "SupportedWithCaveats", "concurrent sequences", id="ok"
        ),
        pytest.param(
            {"quantization.method": "fp8", "serving.maxTotalTokens": 200_000},
            Level.NO,
            "InvalidSpec",
            "at most 131072",
            id="beyond-context",
        ),
        pytest.param(
            {"quantization.method": "none", "vllm": {"gpuMemoryUtilization": 0.3}},
            Level.NO,
            "InsufficientGPUMemory",
            "a higher vllm.gpuMemoryUtilization (now 0.3)",
            id="utilization-too-low",
        ),
        pytest.param(
            {
                "quantization.method": "bitsandbytes",
                "vllm": {"gpuMemoryUtilization": 0.95},
                "serving.maxTotalTokens": 131072,
            },
            Level.NO,
            "InsufficientGPUMemory",
            "a lower serving.maxTotalTokens",
            id="long-context-on-a10",
        ),
        pytest.param(
            {"quantization.method": "fp8", "gpu.type": "l4", "vllm": {"kvCacheDtype": "fp8"}},
            Level.OK,
            "Planned",
            "native W8A8",
            id="fp8-kv-on-ada",
        ),
        pytest.param(
            {"quantization.method": "none", "vllm": {"kvCacheDtype": "fp8"}},
            Level.WARN,
            "SupportedWithCaveats",
            "no FP8 speed-up",
            id="fp8-kv-below-8.9",
        ),
    ],
)
def test_plan_spec_dispatches_vllm(overrides: dict[str, Any], level: Level, reason: str, says: str) -> None:
    a = _plan(**overrides)
    assert (a.level, a.reason) == (level, reason), a.message
    assert says in a.message
    assert a.relative_speed is None  # no vLLM benchmark yet: no speed-up is claimed


def test_memory_refusal_of_a_4_bit_method_does_not_suggest_a_4_bit_method() -> None:
    a = _plan(
        **{
            "quantization.method": "bitsandbytes",
            "vllm": {"gpuMemoryUtilization": 0.95},
            "serving.maxTotalTokens": 131072,
        }
    )
    assert "4-bit method" not in a.message and "higher vllm.gpuMemoryUtilization" not in a.message


def test_more_gpus_turn_a_memory_refusal_into_a_fit() -> None:
    too_small = {"quantization.method": "none", "model.id": "meta-llama/Llama-3.1-70B-Instruct", "gpu.type": "h100"}
    assert _plan(**too_small).level == Level.NO
    assert _plan(**too_small, **{"gpu.count": 4}).fits


def test_unknown_context_length_is_not_refused() -> None:
    model = replace(PHI, id="someone/unknown-model")
    assert context_problem(model, 10**6) is None
    assert context_problem(PHI, 131072) is None


def test_docs_vllm_matrix_is_generated_from_the_code() -> None:
    assert vllm_matrix_markdown() in (ROOT / "docs" / "engines.md").read_text(), "run `make generate`"


@pytest.mark.parametrize("engine", ["tgi", "vllm"])
def test_method_auto_has_no_single_plan(engine: str) -> None:
    spec = parse_spec(phi35_spec(engine=engine, **{"quantization.method": "auto"}))
    with pytest.raises(PlanningError) as err:
        plan_spec(spec, default_config().gpu_profiles["a10"], resolve_architecture(spec.model))
    assert err.value.reason == "InvalidSpec" and "plan each of quantization.candidates" in err.value.message


def _plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["plan", "--model", "microsoft/Phi-3.5-mini-instruct", "-o", "json", *args]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_plan_engine_vllm_lists_vllms_methods_and_recommends_from_them(capsys: pytest.CaptureFixture[str]) -> None:
    out = _plan_json(capsys, "--gpu", "h100", "--engine", "vllm")
    assert [m["method"] for m in out["methods"]] == [m.value for m in VLLM_BITS]
    assert out["recommendation"]["latency"] == "fp8" and out["recommendation"]["memory"] == "bitsandbytes"
    fp8 = next(m for m in out["methods"] if m["method"] == "fp8")
    assert fp8["level"] == "ok" and "concurrent sequences" in fp8["message"] and fp8["relativeSpeed"] is None


def test_plan_utilization_moves_the_kv_cache(capsys: pytest.CaptureFixture[str]) -> None:
    def kv(util: str) -> float:
        rows = _plan_json(capsys, "--gpu", "a10", "--engine", "vllm", "--gpu-memory-utilization", util)["methods"]
        return float(next(m for m in rows if m["method"] == "fp8")["kvCacheGiB"])

    assert kv("0.95") > kv("0.9") > kv("0.6")


@pytest.mark.parametrize("util", ["0", "1.5", "-1"])
def test_plan_refuses_a_utilization_outside_0_1(capsys: pytest.CaptureFixture[str], util: str) -> None:
    args = ["--gpu", "a10", "--engine", "vllm", "--gpu-memory-utilization", util]
    assert main(["plan", "--model", "microsoft/Phi-3.5-mini-instruct", *args]) == 2
    assert "must be in (0, 1]" in capsys.readouterr().err
