"""The production guard: after a promotion, judge the new revision on Prometheus and say what to do.

The controller calls, at each reconcile of a guarded revision::

    policy = policy_for(spec, baseline_accuracy)
    obs = await observe(PrometheusClient(url, timeout_s), Target(ns, name, revision), policy)
    verdict = judge(policy, obs, elapsed_s)    # Continue | Pass | Breach | NoData
    outcome = guard_outcome(verdict, revision)  # condition, Event, metrics, action

Everything but ``observe`` and the client is pure.
"""

from .judge import (
    TIERS,
    Breach,
    BurnTier,
    Continue,
    Counts,
    GuardPolicy,
    GuardVerdict,
    Missing,
    NoData,
    Observation,
    Pass,
    Signal,
    judge,
    policy_for,
)
from .observe import Target, observe
from .outcome import GuardAction, GuardOutcome, guard_outcome
from .prometheus import Empty, PrometheusClient, Unreachable, Vector

__all__ = [
    "TIERS",
    "Breach",
    "BurnTier",
    "Continue",
    "Counts",
    "Empty",
    "GuardAction",
    "GuardOutcome",
    "GuardPolicy",
    "GuardVerdict",
    "Missing",
    "NoData",
    "Observation",
    "Pass",
    "PrometheusClient",
    "Signal",
    "Target",
    "Unreachable",
    "Vector",
    "guard_outcome",
    "judge",
    "observe",
    "policy_for",
]
