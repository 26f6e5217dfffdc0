"""The production guard against a real Prometheus: it reads the shipped recording rules for the revision's
stable pods and judges a healthy TGI as healthy, a slow or failing one as a breach, a vLLM revision
through the same rules, and an unreachable Prometheus as missing data.

The stack (Prometheus scraping the TGI emulator under a steady client, rules time-compressed) is
tests/e2e/test_prometheus.py's fixture, reused as is. The compressed rules record 15 s windows under
the 5m/30m names, so the guard's request counts are inflated 20x here; shares and verdicts are not.
"""

from __future__ import annotations

import asyncio

from tests.e2e.test_prometheus import MODEL, NS, REV, VLLM_MODEL, VLLM_REV, Stack, stack, wait_for

from quantop.monitoring.guard import (
    Breach,
    GuardPolicy,
    Missing,
    NoData,
    Observation,
    PrometheusClient,
    Signal,
    Target,
    judge,
    observe,
)
from quantop.sandbox.processes import free_port

__all__ = ["stack"]  # the module-scoped fixture, imported to start this module's own stack

# The stack's spec: p95 SLO 150 ms, at most 5% errors; the emulator answers in ~10 ms at latency_scale 0.02.
POLICY = GuardPolicy(duration_s=1800, p95_slo_s=0.15, max_error_ratio=0.05, accuracy_floor=None)
TARGET = Target(NS, MODEL, REV)


def read(stack: Stack, policy: GuardPolicy = POLICY, target: Target = TARGET) -> Observation:
    return asyncio.run(observe(PrometheusClient(stack.prometheus, timeout_s=10), target, policy))


def has_data(o: Observation) -> bool:
    return isinstance(o.latency, dict) and isinstance(o.errors, dict) and {"5m", "30m"} <= set(o.latency)


def test_guard_judges_a_healthy_revision_healthy_and_a_slow_one_as_a_latency_breach(stack: Stack) -> None:
    wait_for(lambda: has_data(read(stack)), "the guard to read latency and errors of the revision")
    healthy = read(stack)
    assert not isinstance(judge(POLICY, healthy, elapsed_s=600), Breach | NoData), healthy
    stack.emulator(latency_scale=1.0)  # 16 tokens at ~20 ms each: every request far above 150 ms
    try:
        wait_for(lambda: isinstance(judge(POLICY, read(stack), 600), Breach), "a latency breach")
        verdict = judge(POLICY, read(stack), 600)
        assert isinstance(verdict, Breach) and verdict.signal == Signal.P95_LATENCY
        assert verdict.value > 0.15 and "> SLO 150 ms" in verdict.message
    finally:
        stack.emulator(latency_scale=0.02)
    wait_for(lambda: not isinstance(judge(POLICY, read(stack), 600), Breach), "the breach to clear")


def test_guard_sees_failing_requests_as_an_error_breach(stack: Stack) -> None:
    policy = GuardPolicy(duration_s=1800, p95_slo_s=None, max_error_ratio=0.05, accuracy_floor=None)
    stack.emulator(error_rate=0.6, error_kinds="generation")
    try:
        wait_for(lambda: isinstance(judge(policy, read(stack, policy), 600), Breach), "an error-ratio breach")
        verdict = judge(policy, read(stack, policy), 600)
        assert isinstance(verdict, Breach) and verdict.signal == Signal.ERROR_RATIO and verdict.value > 0.05
    finally:
        stack.emulator(error_rate=0.0)


def test_another_revision_or_an_unreachable_prometheus_is_missing_data_not_a_verdict(stack: Stack) -> None:
    other = asyncio.run(observe(PrometheusClient(stack.prometheus), Target(NS, MODEL, "000000"), POLICY))
    assert other.latency == Missing("no request latency for this revision yet")
    verdict = judge(POLICY, other, elapsed_s=3600)
    assert isinstance(verdict, NoData) and not verdict.unreachable

    closed = PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    verdict = judge(POLICY, asyncio.run(observe(closed, TARGET, POLICY)), elapsed_s=3600)
    assert isinstance(verdict, NoData) and verdict.unreachable and "cannot reach" in verdict.why


def test_guard_judges_a_vllm_revision_through_the_same_rules(stack: Stack) -> None:
    # vLLM's end-to-end latency histogram starts at a 0.3 s bucket (0.3, 0.5, 0.8, 1, ...): with a 150 ms SLO
    # the guard could only count requests above 0.3 s as slow (burn.count_at_most). 0.5 s is a bucket bound.
    policy = GuardPolicy(duration_s=1800, p95_slo_s=0.5, max_error_ratio=0.05, accuracy_floor=None)
    vllm = Target(NS, VLLM_MODEL, VLLM_REV)

    def verdict() -> object:
        return judge(policy, read(stack, policy, vllm), elapsed_s=600)

    wait_for(lambda: has_data(read(stack, policy, vllm)), "the guard to read latency and errors of the vLLM revision")
    assert not isinstance(verdict(), Breach | NoData), verdict()
    stack.emulator(engine="vllm", latency_scale=4.0)  # 16 tokens at ~80 ms each: every request above 0.5 s
    try:
        wait_for(lambda: isinstance(verdict(), Breach), "a vLLM latency breach")
        breach = verdict()
        assert isinstance(breach, Breach) and breach.signal == Signal.P95_LATENCY and breach.value > 0.5
    finally:
        stack.emulator(engine="vllm", latency_scale=0.02)
    wait_for(lambda: not isinstance(verdict(), Breach), "the breach to clear")
