"""The planner's advice: fixes name only methods that run and fit on that GPU; speeds only where a method runs."""

from __future__ import annotations

import re

import pytest

from quantop.api import QuantizationMethod, Reason
from quantop.planning import BITS, GPU_CATALOG, MODEL_TABLE, Level, assess_all, assess_method, lookup_model
from quantop.planning.advice import NATIVE_FP8_RELATIVE_SPEED

Q = QuantizationMethod
METHOD_NAMES = "|".join(sorted((re.escape(m.value) for m in Q), key=len, reverse=True))
#: "use eetq, bitsandbytes or bitsandbytes-nf4 (they run and fit ..." / "(fewer bits; they fit)"
SUGGESTION = re.compile(rf"use ((?:(?:{METHOD_NAMES})(?:, | or )?)+) \((?:they run and fit|fewer bits)")


def suggested(message: str) -> list[str]:
    match = SUGGESTION.search(message)
    return re.split(r", | or ", match.group(1)) if match else []


def model(model_id: str):  # type: ignore[no-untyped-def]
    info = lookup_model(model_id)
    assert info is not None
    return info


PHI = model("microsoft/Phi-3.5-mini-instruct")
L70 = model("meta-llama/Llama-3.1-70B-Instruct")
AWQ = "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"


@pytest.mark.parametrize("gpu", list(GPU_CATALOG))
@pytest.mark.parametrize("model_id", sorted(MODEL_TABLE))
def test_every_suggested_method_runs_and_fits_on_that_gpu(model_id: str, gpu: str) -> None:
    rows = assess_all(model(model_id), GPU_CATALOG[gpu])
    usable = {a.method.value for a in rows if a.usable}
    for a in rows:
        named = suggested(a.message)
        assert set(named) <= usable, f"{a.method.value} on {gpu} suggests {named}; only {usable} run and fit"
        if a.reason == Reason.INSUFFICIENT_GPU_MEMORY:
            assert all(BITS[Q(m)] < a.bits for m in named), f"{a.method.value}: suggests no fewer bits: {named}"


@pytest.mark.parametrize(
    ("model_id", "gpu", "method", "present", "absent"),
    [
        pytest.param(PHI.id, "t4", Q.GPTQ, ["eetq", "bitsandbytes-nf4"], ["fp8"], id="t4-gptq-no-fp8"),
        pytest.param(PHI.id, "t4", Q.AWQ, ["an awq repository", "eetq"], ["fp8", "a awq"], id="t4-awq-grammar"),
        pytest.param(PHI.id, "a10", Q.EXL2, ["an exl2 repository", "eetq"], ["an exl2 repository or"], id="a10-exl2"),
        pytest.param(PHI.id, "a10", Q.GPTQ, ["a gptq repository"], ["an gptq"], id="gptq-grammar"),
        pytest.param(PHI.id, "v100", Q.MARLIN, ["eetq"], ["bitsandbytes-nf4", "fp8"], id="v100-no-4-bit"),
        pytest.param(PHI.id, "t4", Q.FP8, ["use eetq, bitsandbytes or bitsandbytes-nf4"], ["fp8 or"], id="t4-fp8"),
        pytest.param(L70.id, "t4", Q.BITSANDBYTES_NF4, ["larger GPU"], ["4-bit method", "use eetq"], id="70b-t4-nf4"),
        pytest.param(L70.id, "t4", Q.FP8, ["no quantization method runs and fits on 1x T4"], [], id="70b-t4-fp8"),
        pytest.param(AWQ, "t4", Q.GPTQ, ["or use awq, eetq or bitsandbytes (they"], [], id="own-format-first"),
        pytest.param(
            L70.id, "l40s", Q.EETQ, ["bitsandbytes-nf4 or bitsandbytes-fp4 (fewer bits"], ["fp8"], id="70b-l40s"
        ),
        pytest.param(L70.id, "h100", Q.NONE, ["use fp8, eetq or bitsandbytes-nf4 (fewer"], [], id="70b-h100-fp8-first"),
    ],
)
def test_fix_names_what_helps_here(model_id: str, gpu: str, method: Q, present: list[str], absent: list[str]) -> None:
    a = assess_method(model(model_id), GPU_CATALOG[gpu], method)
    assert a.level == Level.NO
    for text in present:
        assert text in a.message
    for text in absent:
        assert text not in a.message


def test_kv_cache_fix_only_when_the_weights_alone_fit() -> None:
    weights_too_big = assess_method(L70, GPU_CATALOG["t4"], Q.BITSANDBYTES_NF4)
    kv_too_big = assess_method(PHI, GPU_CATALOG["t4"], Q.BITSANDBYTES_NF4, kv_tokens=200_000)
    assert "maxTotalTokens" not in weights_too_big.message
    assert kv_too_big.reason == Reason.INSUFFICIENT_GPU_MEMORY and "lower maxTotalTokens" in kv_too_big.message


@pytest.mark.parametrize("gpu", list(GPU_CATALOG))
def test_refused_rows_show_no_speed(gpu: str) -> None:
    rows = assess_all(PHI, GPU_CATALOG[gpu]) + assess_all(L70, GPU_CATALOG[gpu])
    for a in rows:
        if a.level == Level.NO:
            assert a.relative_speed is None and a.summary().relative_speed is None, a
        elif a.method in (Q.NONE, Q.EETQ, Q.FP8):
            assert a.relative_speed is not None, f"{a.method.value} runs on {gpu}: its speed is known"


@pytest.mark.parametrize(
    ("gpu", "native"),
    [
        pytest.param("h100", True, id="h100-native-w8a8"),
        pytest.param("h200", True, id="h200-native-w8a8"),
        pytest.param("l40s", False, id="l40s-marlin-unless-cutlass-switch"),
        pytest.param("a10", False, id="a10-weight-only"),
        pytest.param("a100-80gb", False, id="a100-weight-only"),
    ],
)
def test_native_fp8_is_faster_than_weight_only_8_bit_only_where_the_kernels_are(gpu: str, native: bool) -> None:
    fp8 = assess_method(PHI, GPU_CATALOG[gpu], Q.FP8).relative_speed
    eetq = assess_method(PHI, GPU_CATALOG[gpu], Q.EETQ).relative_speed
    assert fp8 is not None and eetq is not None
    assert (fp8 > eetq) is native
    if native:
        assert fp8 == NATIVE_FP8_RELATIVE_SPEED
