"""The load test ends within its bounds whatever the server does: a slowloris stream times out per request,
requests still running at the end are cut after the stop grace and counted, and a stuck generator is killed."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hostile import hostile_server

from quantop.validation.load import LoadError, LoadSettings, run_load


def settings(endpoint: str, **overrides: float) -> LoadSettings:
    values = {"duration_s": 1.0, "request_timeout_s": 2.0, "stop_grace_s": 1.0} | overrides
    return LoadSettings(endpoint, users=2, warmup_s=0.0, max_new_tokens=8, prompts=["hi"], **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("route", "kinds"),
    [
        pytest.param(lambda h: h.drip(b": keep-alive\n"), {"timeout", "stopped"}, id="slowloris-sse-comments"),
        pytest.param(lambda h: h.drip(b" "), {"timeout", "stopped"}, id="slowloris-bytes"),
        pytest.param(lambda h: h.hang(), {"timeout", "stopped"}, id="never-answers"),
        pytest.param(lambda h: h.slow_headers(), {"timeout", "stopped"}, id="slowloris-headers"),
    ],
)
def test_a_stalling_server_ends_in_counted_errors(tmp_path: Path, route: object, kinds: set[str]) -> None:
    with hostile_server({"/generate_stream": route}) as url:  # type: ignore[dict-item]
        summary = run_load(settings(url), tmp_path)
    assert summary.requests > 0 and summary.errors == summary.requests
    assert set(summary.errors_by_kind) <= kinds, summary.errors_by_kind


def test_a_stop_grace_shorter_than_the_request_deadline_cuts_requests_as_stopped(tmp_path: Path) -> None:
    with hostile_server({"/generate_stream": lambda h: h.drip()}) as url:
        summary = run_load(settings(url, request_timeout_s=120.0, stop_grace_s=1.0), tmp_path)
    assert summary.errors_by_kind == {"stopped": summary.requests} and summary.requests >= 2


def test_a_generator_that_outlives_its_wall_limit_is_killed(tmp_path: Path) -> None:
    with hostile_server({"/generate_stream": lambda h: h.hang()}) as url:
        stuck = settings(url, duration_s=30.0, startup_allowance_s=-31.0 + 0.5)
        with pytest.raises(LoadError, match=r"did not stop within 0 s and was killed"):
            run_load(stuck, tmp_path)
