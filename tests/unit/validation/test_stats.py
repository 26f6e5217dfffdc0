"""Percentiles from raw samples, their confidence intervals, and the Wilson interval."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantop.validation.stats import percentile, quantile_with_ci, wilson_interval


def test_percentile_of_known_samples() -> None:
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 0.0) == 15
    assert percentile(values, 1.0) == 50
    assert percentile(values, 0.5) == 35
    assert percentile(values, 0.4) == pytest.approx(29.0)  # between 20 and 35, 60% of the way
    assert percentile(list(range(1, 101)), 0.95) == pytest.approx(95.05)


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=2, max_size=200))
def test_percentile_matches_the_inclusive_method(values: list[float]) -> None:
    # statistics.quantiles(method="inclusive") is the same linear interpolation (type 7).
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for q in (50, 95, 99):
        assert percentile(values, q / 100) == pytest.approx(cuts[q - 1], rel=1e-9, abs=1e-9)


def test_percentile_is_not_rounded_like_locust() -> None:
    # locust would keep 5649 ms as 5600 ms; raw samples keep it.
    assert percentile([5649.0] * 10, 0.5) == 5649.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 1.5)


def test_quantile_ci_brackets_the_value_and_narrows_with_samples() -> None:
    small = quantile_with_ci([float(i) for i in range(50)], 0.99)
    large = quantile_with_ci([float(i % 50) for i in range(5000)], 0.99)
    assert small.ci_low <= small.value <= small.ci_high and small.samples == 50
    assert small.ci_high == 49.0  # with 50 samples the p99's interval reaches the maximum
    assert large.ci_high - large.ci_low < small.ci_high - small.ci_low


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
