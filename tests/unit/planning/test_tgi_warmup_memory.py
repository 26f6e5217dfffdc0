"""TGI's warm-up in the memory fit: CUDA context + fixed buffers + the prefill's activations, which grow
0.08-0.11 GiB per 1k prefill tokens for 4-8B models (measured on an H200); H200 has 139.8 GiB usable."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import phi35_spec

from quantop.api import QuantizationMethod, default_config, parse_spec
from quantop.planning import GPU_CATALOG, Level, lookup_model, memory_fit, plan_spec, resolve_architecture
from quantop.planning.memory import activation_gib, overhead_gib

Q = QuantizationMethod
PHI = lookup_model("microsoft/Phi-3.5-mini-instruct")
LLAMA = lookup_model("meta-llama/Llama-3.1-8B-Instruct")
assert PHI and LLAMA


@pytest.mark.parametrize("model", [pytest.param(PHI, id="phi35-3.8b"), pytest.param(LLAMA, id="llama31-8b")])
def test_activations_grow_as_measured_per_1k_prefill_tokens(model: Any) -> None:
    per_1k = activation_gib(model, 2000) - activation_gib(model, 1000)
    assert 0.08 <= round(per_1k, 3) <= 0.11


@pytest.mark.parametrize("model", [pytest.param(PHI, id="phi35-3.8b"), pytest.param(LLAMA, id="llama31-8b")])
def test_an_8k_prefill_costs_about_a_third_more_than_the_old_fixed_overhead(model: Any) -> None:
    at_8k = overhead_gib(model, 8192, 1)
    assert 1.5 * 1.2 <= at_8k <= 1.5 * 1.4  # measured: the fixed 1.5 GiB was 30-35% low
    assert overhead_gib(model, 1074, 1) < at_8k


def test_sharding_repeats_the_context_not_the_activations() -> None:
    one, two = overhead_gib(LLAMA, 8192, 1), overhead_gib(LLAMA, 8192, 2)
    assert two - one == pytest.approx(overhead_gib(LLAMA, 0, 1))


def test_memory_fit_counts_the_warm_up_prefill() -> None:
    small = memory_fit(PHI, Q.EETQ, 24, 1, 8192, prefill_tokens=1024)
    large = memory_fit(PHI, Q.EETQ, 24, 1, 8192, prefill_tokens=16384)
    assert large.overhead_gib > small.overhead_gib and large.weights_gib == small.weights_gib


def test_h200_has_139_8_gib_usable() -> None:
    assert GPU_CATALOG["h200"].memory_gib == 139.8


GUIDE_A10 = ["none", "fp8", "eetq", "bitsandbytes-nf4", "bitsandbytes-fp4", "bitsandbytes"]


@pytest.mark.parametrize("method", GUIDE_A10)
def test_the_guides_six_a10_configurations_of_phi35_still_fit(method: str) -> None:
    spec = parse_spec(phi35_spec(**{"quantization.method": method}))
    a = plan_spec(spec, default_config().gpu_profiles["a10"], resolve_architecture(spec.model))
    assert a.fits and a.level != Level.NO, a.message


def test_a_large_prefill_budget_enters_a_tgi_plan() -> None:
    def overhead(**o: Any) -> float:
        spec = parse_spec(phi35_spec(**o))
        return plan_spec(spec, default_config().gpu_profiles["a10"], resolve_architecture(spec.model)).overhead_gib

    assert overhead(**{"serving.maxBatchPrefillTokens": 16384}) > overhead()
    # Unset, TGI prefills max-input-tokens + 50.
    assert overhead(**{"serving.maxInputTokens": 1800, "serving.maxTotalTokens": 4096}) > overhead()
