"""promotion.strategy InPlace: a rollout that never asks for more GPU replicas than serving.replicas.

The candidate is validated on one replica taken from the stable revision (stable N -> N-1), and on
promotion the replicas move from the old revision to the new one a replica at a time. Every step
lowers one Deployment before a later reconcile raises the other, and only once the lowering is
observed: `act` runs the rest of a decision's actions after a failed write, so a raise in the
same decision as its lowering could exceed N when the lowering fails. Pure, like every effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quantop.api.spec import PromotionStrategy

from .actions import Scale
from .draft import Draft


def spec_replicas(deployment: Mapping[str, Any] | None) -> int:
    """A Deployment's desired replicas as observed; 0 when it does not exist."""
    if deployment is None:
        return 0
    return int((deployment.get("spec") or {}).get("replicas") or 0)


def in_place(d: Draft) -> bool:
    return d.ctx.spec.promotion.strategy == PromotionStrategy.IN_PLACE


def applies(d: Draft) -> bool:
    """The candidate takes its replica from a running stable revision (the first revision has none to take)."""
    stable = d.status.stable_revision
    return in_place(d) and stable is not None and stable != d.rev and d.deployment(stable) is not None


def wanted(d: Draft) -> int:
    """Replicas the candidate needs available before it is validated: one under InPlace."""
    return 1 if applies(d) else max(d.ctx.spec.serving.replicas, 1)


def candidate_replicas(d: Draft, replicas: int | None) -> int | None:
    """The candidate's replicas under InPlace, with the stable revision's scale that makes room for them.

    None (validate): 1 once the stable revision is seen at N-1, 0 until then (the scale-down is asked
    here). 0 (a failed candidate): the stable revision gets its replica back once the candidate is seen
    at zero.
    """
    if not applies(d):
        return replicas
    stable, n = d.status.stable_revision, d.ctx.spec.serving.replicas
    assert stable is not None
    live = spec_replicas(d.deployment(stable))
    if replicas is None:
        if live > n - 1:
            d.do(Scale(stable, n - 1))
            return 0
        return 1
    if replicas == 0 and spec_replicas(d.deployment(d.rev)) == 0 and live < n:
        d.do(Scale(stable, n))
    return replicas


def handover(d: Draft) -> int | None:
    """After an InPlace promotion: the new stable revision's replicas while the previous one still holds some.

    One replica moves per step: the previous revision gives one up once every replica of the new one
    is available, and the new one takes it when the previous is seen lower. None: nothing to hand over.
    """
    stable, previous = d.status.stable_revision, d.status.previous_revision
    if not in_place(d) or stable is None or previous is None:
        return None
    before, now = spec_replicas(d.deployment(previous)), spec_replicas(d.deployment(stable))
    n = d.ctx.spec.serving.replicas
    if before == 0 or d.deployment(stable) is None:
        return None
    if now + before < n:
        return min(n, now + 1)
    if d.available(stable) >= now:
        d.do(Scale(previous, before - 1))
    return now
