"""The guard's metrics: rollbacks by reason, and quantop_guard_state only while a revision is guarded."""

from __future__ import annotations

import pytest
from tests.conftest import qm
from tests.unit.monitoring.test_exporter import promoted, value

from quantop.api.status import GuardState, GuardStatus
from quantop.monitoring import names as n
from quantop.monitoring.exporter import OperatorMetrics

MODEL = {"namespace": "demo", "model": "a"}


@pytest.mark.parametrize(
    ("counters", "reasons"),
    [
        pytest.param([("rollback", "5b67eb")], {"Manual": 1}, id="annotation-is-manual"),
        pytest.param([("guard_rollback", "GuardP95Latency")], {"GuardP95Latency": 1}, id="guard-latency"),
        pytest.param(
            [("guard_rollback", "GuardErrorRatio"), ("rollback", "x")],
            {"GuardErrorRatio": 1, "Manual": 1},
            id="both-kinds",
        ),
    ],
)
def test_rollbacks_are_counted_by_reason(counters: list[tuple[str, str]], reasons: dict[str, int]) -> None:
    m = OperatorMetrics()
    out = promoted()
    out.counters = counters
    m.record("demo", "a", qm("a", "demo"), out)
    for reason in ("Manual", "GuardP95Latency", "GuardErrorRatio", "GuardAccuracy"):
        assert (value(m, n.ROLLBACKS, **MODEL, reason=reason) or 0) == reasons.get(reason, 0), reason


@pytest.mark.parametrize(
    ("state", "exported"),
    [
        pytest.param(GuardState.GUARDING, True, id="guarding"),
        pytest.param(GuardState.UNREACHABLE, True, id="unreachable"),
        pytest.param(GuardState.NO_DATA, True, id="no-data"),
        pytest.param(GuardState.PASSED, False, id="passed-is-over"),
        pytest.param(GuardState.ROLLED_BACK, False, id="rolled-back-is-over"),
    ],
)
def test_guard_state_is_one_enum_series_while_guarded(state: GuardState, exported: bool) -> None:
    m = OperatorMetrics()
    guard = GuardStatus(revision="5b67eb", started_at="2026-12-01T12:00:00Z", state=state)
    m.record("demo", "a", qm("a", "demo"), promoted(guard=guard))
    got = {s: value(m, n.GUARD_STATE, **MODEL, revision="5b67eb", state=s) for s in n.GUARD_STATES}
    if exported:
        assert got == {s: 1.0 if s == state.value else 0.0 for s in n.GUARD_STATES}
    else:
        assert set(got.values()) == {None}


def test_guard_state_series_go_when_the_guard_ends() -> None:
    m = OperatorMetrics()
    guarding = GuardStatus(revision="5b67eb", started_at="2026-12-01T12:00:00Z", state=GuardState.UNREACHABLE)
    m.record("demo", "a", qm("a", "demo"), promoted(guard=guarding))
    m.record("demo", "a", qm("a", "demo"), promoted(guard=guarding.model_copy(update={"state": GuardState.PASSED})))
    assert value(m, n.GUARD_STATE, **MODEL, revision="5b67eb", state="Unreachable") is None
