"""promotion.guard and promotion.strategy: the API server (schema + CEL) and pydantic refuse the same specs,
with a message that says what to set; the config-dependent refusal is a pure function of (spec, config)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import DELETE, phi35_spec
from tests.unit.api.test_crd import api_server_admits

from quantop.api import SpecError, default_config, parse_spec
from quantop.api.guard import LONG_WINDOW, promotion_refusal

CASES = [
    pytest.param({"promotion.guard": {}}, None, id="guard-defaults"),
    pytest.param({"promotion.guard": {"duration": "30m"}}, None, id="guard-exactly-the-long-window"),
    pytest.param({"promotion.guard": {"duration": "1h30m", "keepPrevious": False}}, None, id="guard-90m-no-keep"),
    pytest.param({"promotion.guard": {"duration": "1.5h"}}, None, id="guard-fractional-hours"),
    pytest.param({"promotion.guard": {"duration": "10m"}}, "set at least 30m", id="guard-shorter-than-window"),
    pytest.param({"promotion.guard": {"duration": "1799s"}}, "set at least 30m", id="guard-one-second-short"),
    pytest.param({"promotion.guard": {"duration": "8d"}}, "invalid duration", id="guard-unknown-unit"),
    pytest.param({"promotion.guard": {"duration": "200h"}}, "longer than 168h", id="guard-over-a-week"),
    pytest.param({"promotion.guard": {"duration": "soon"}}, "invalid duration", id="guard-not-a-duration"),
    pytest.param({"promotion.guard": {"window": "30m"}}, "unknown field", id="guard-typo"),
    pytest.param({"promotion.strategy": "InPlace", "serving.replicas": 2}, None, id="in-place-two-replicas"),
    pytest.param(
        {"promotion.strategy": "InPlace", "serving.replicas": 1},
        "it would take the only serving replica",
        id="in-place-one-replica",
    ),
    pytest.param(
        {"promotion.strategy": "InPlace", "serving.replicas": 0},
        "it would take the only serving replica",
        id="in-place-zero-replicas",
    ),
    pytest.param(
        {"promotion.strategy": "InPlace", "serving": DELETE},
        "it would take the only serving replica",
        id="in-place-default-replicas",
    ),
    pytest.param({"promotion.strategy": "BlueGreen", "serving.replicas": 1}, None, id="blue-green-one-replica"),
    pytest.param({"promotion.strategy": "Canary"}, "BlueGreen", id="unknown-strategy"),
]


@pytest.mark.parametrize(("overrides", "refusal"), CASES)
def test_api_server_and_pydantic_refuse_the_same_specs(overrides: dict[str, Any], refusal: str | None) -> None:
    spec = phi35_spec(**overrides)
    server_errors = api_server_admits(phi35_spec(**overrides))
    if "window" in overrides.get("promotion.guard", {}):
        server_errors = ["pruned"]  # the API server prunes unknown fields; pydantic (render) refuses them
    assert (server_errors == []) is (refusal is None), server_errors
    if refusal is None:
        parse_spec(spec)
        return
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert refusal in str(err.value)


def test_the_too_short_message_names_the_minimum_and_the_window() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(phi35_spec(**{"promotion.guard": {"duration": "15m"}}))
    assert f"shorter than the guard's longest window ({LONG_WINDOW})" in str(err.value)
    cel = api_server_admits(phi35_spec(**{"promotion.guard": {"duration": "15m"}}))
    assert cel == [f"promotion.guard.duration must be at least the guard's longest window, {LONG_WINDOW}"]


def test_no_guard_and_blue_green_are_the_defaults() -> None:
    promotion = parse_spec(phi35_spec()).promotion
    assert promotion.guard is None and promotion.strategy == "BlueGreen"


@pytest.mark.parametrize(
    ("guard", "url", "refused"),
    [
        pytest.param({}, None, True, id="guard-without-prometheus"),
        pytest.param({}, "http://prometheus-operated.monitoring.svc:9090", False, id="guard-with-prometheus"),
        pytest.param(None, None, False, id="no-guard-no-prometheus"),
        pytest.param(None, "http://prometheus:9090", False, id="no-guard-with-prometheus"),
    ],
)
def test_promotion_refusal_needs_a_prometheus_url_only_for_a_guard(
    guard: dict[str, Any] | None, url: str | None, refused: bool
) -> None:
    spec = parse_spec(phi35_spec(**({} if guard is None else {"promotion.guard": guard})))
    config = default_config()
    config = config.model_copy(update={"prometheus": config.prometheus.model_copy(update={"url": url})})
    message = promotion_refusal(spec, config)
    if not refused:
        assert message is None
        return
    assert message is not None and "config.prometheus.url" in message and "remove promotion.guard" in message
    assert "\n" not in message
