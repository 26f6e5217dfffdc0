"""The production guard's one read: Prometheus' view of the guarded revision, for :class:`Observed`.

Kept apart from the pure decision (guarding.py) so that `observe` can call it without importing
the draft, and so that no Prometheus query runs for a model that is not being guarded.
"""

from __future__ import annotations

from quantop.api import OperatorConfig, QuantizedModelStatus, parse_duration
from quantop.api.spec import QuantizedModelSpec
from quantop.api.status import GuardState
from quantop.monitoring.guard import Observation, PrometheusClient, Target, observe, policy_for
from quantop.resources import ModelContext

#: States in which the guard still judges the revision.
ACTIVE = frozenset({GuardState.GUARDING, GuardState.NO_DATA, GuardState.UNREACHABLE})


def guard_active(spec: QuantizedModelSpec, status: QuantizedModelStatus, revision: str) -> bool:
    """The spec asks for a guard and the guard started at this revision's promotion has not ended."""
    g = status.guard
    return (
        spec.promotion.guard is not None
        and revision == status.stable_revision
        and g is not None
        and g.revision == revision
        and g.state in ACTIVE
    )


def baseline_accuracy(status: QuantizedModelStatus, resolved: float | None) -> float | None:
    """What validation compared the revision against: the spec's or modelRef's, else the one its results record."""
    if resolved is not None:
        return resolved
    return status.results.baseline_accuracy if status.results is not None else None


async def read_guard(
    ctx: ModelContext, status: QuantizedModelStatus, config: OperatorConfig | None, resolved_baseline: float | None
) -> Observation | None:
    """Prometheus' reading of the guarded revision; None when no guard is active (nothing is queried)."""
    if config is None or not config.prometheus.url or not guard_active(ctx.spec, status, ctx.revision):
        return None
    policy = policy_for(ctx.spec, baseline_accuracy(status, resolved_baseline))
    if policy is None:
        return None
    client = PrometheusClient(config.prometheus.url, timeout_s=parse_duration(config.prometheus.timeout))
    return await observe(client, Target(ctx.namespace, ctx.name, ctx.revision), policy)
