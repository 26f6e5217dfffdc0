"""The emulator's profiles reproduce the guide's A10 table by construction."""

from __future__ import annotations

import math

import pytest

from quantop.sandbox.tgi_emulator.profiles import (
    CALIBRATION_TOKENS,
    CALIBRATION_USERS,
    GUIDE_A10,
    P95_Z,
    profile_for,
    profile_named,
    profile_names,
)


@pytest.mark.parametrize("method", sorted(GUIDE_A10))
def test_a10_profiles_reproduce_the_guide_at_its_load(method: str) -> None:
    median, p95 = GUIDE_A10[method]
    p = profile_for("a10", method)
    assert p.expected_latency_ms(CALIBRATION_USERS, CALIBRATION_TOKENS) == pytest.approx(median, rel=1e-9)
    assert median * math.exp(P95_Z * p.sigma) == pytest.approx(p95, rel=1e-9)


def test_latency_grows_with_load_and_faster_gpus_are_faster() -> None:
    a10 = profile_for("a10", "eetq")
    assert a10.expected_latency_ms(1, 128) < a10.expected_latency_ms(50, 128) < a10.expected_latency_ms(200, 128)
    assert profile_for("h100", "eetq").expected_latency_ms(100, 128) < a10.expected_latency_ms(100, 128)


def test_method_stand_ins_and_names() -> None:
    assert profile_for("a10", "none").name == "a10-default"
    assert profile_for("l4", "awq").name == "l4-fp8"
    assert profile_named("a100-80gb-bitsandbytes-nf4").name == "a100-80gb-bitsandbytes-nf4"
    assert all(profile_named(n).name == n for n in profile_names())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: profile_for("tpu", "eetq"), "no emulator profile for GPU 'tpu'"),
        (lambda: profile_for("a10", "int3"), "no emulator profile for method 'int3'"),
        (lambda: profile_named("eetq"), "expected GPU-METHOD"),
        (lambda: profile_for("a10", "eetq").override({"latency": "2"}), "unknown profile field 'latency'"),
        (lambda: profile_for("a10", "eetq").override({"accuracy": "high"}), "accuracy='high': expected a float"),
    ],
)
def test_bad_profile_input_says_what_to_fix(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()


def test_overrides_are_typed() -> None:
    p = profile_for("a10", "eetq").override({"latency_scale": "3", "error_kinds": "generation,disconnect"})
    assert p.latency_scale == 3.0 and p.error_kinds == ("generation", "disconnect")
    assert p.step_ms(10) == pytest.approx(3 * profile_for("a10", "eetq").step_ms(10))
