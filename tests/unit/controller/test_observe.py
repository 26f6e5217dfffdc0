"""What observe() makes of the baseline: a number, a promoted model, a wait, or a cycle it must refuse."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.unit.controller.builders import context

from quantop.controller.observe import BASELINE_CHAIN_LIMIT, Baseline, resolve_baseline


class Models:
    """A read-only stand-in for KubeClient.get on QuantizedModels: name -> modelRef (or a whole raw object)."""

    def __init__(self, refs: dict[str, Any]) -> None:
        self.refs = refs
        self.gets = 0

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets += 1
        if name not in self.refs:
            return None
        ref = self.refs[name]
        if isinstance(ref, dict):
            return {"metadata": {"name": name}, **ref}
        baseline = {"modelRef": ref} if ref else {"accuracy": 0.7}
        status = {"results": {"accuracy": 0.71}} if name.startswith("promoted") else {}
        return {"metadata": {"name": name}, "spec": {"validation": {"baseline": baseline}}, "status": status}


def chain(n: int) -> dict[str, Any]:
    """m -> c0 -> c1 -> ... -> c{n-1} -> m"""
    refs: dict[str, Any] = {f"c{i}": f"c{i + 1}" for i in range(n - 1)}
    refs[f"c{n - 1}"] = "m"
    return refs


@pytest.mark.parametrize(
    ("ref", "models", "expected"),
    [
        pytest.param("promoted-base", {"promoted-base": None}, Baseline(accuracy=0.71), id="promoted-baseline"),
        pytest.param("base", {"base": None}, Baseline(accuracy=None, waiting_for="base"), id="not-promoted-yet"),
        pytest.param("gone", {}, Baseline(accuracy=None, waiting_for="gone (not found in llm)"), id="missing"),
        pytest.param("b", {"b": "m"}, Baseline(accuracy=None, waiting_for="b", cycle=("m", "b", "m")), id="two-cycle"),
        pytest.param(
            "c0",
            chain(3),
            Baseline(accuracy=None, waiting_for="c0", cycle=("m", "c0", "c1", "c2", "m")),
            id="longer-cycle",
        ),
        pytest.param(
            "b", {"b": "c", "c": "b"}, Baseline(accuracy=None, waiting_for="b"), id="cycle-elsewhere-is-not-ours"
        ),
        pytest.param("b", {"b": "c"}, Baseline(accuracy=None, waiting_for="b"), id="chain-ends-at-a-missing-model"),
        pytest.param(
            "c0", chain(BASELINE_CHAIN_LIMIT + 5), Baseline(accuracy=None, waiting_for="c0"), id="beyond-the-hop-limit"
        ),
        pytest.param(
            "b", {"b": {"spec": "junk"}}, Baseline(accuracy=None, waiting_for="b"), id="baseline-spec-is-junk"
        ),
        pytest.param(
            "b",
            {"b": {"spec": {"validation": {"baseline": {"modelRef": ["m"]}}}}},
            Baseline(accuracy=None, waiting_for="b"),
            id="modelref-of-another-type",
        ),
    ],
)
def test_resolve_baseline(ref: str, models: dict[str, Any], expected: Baseline) -> None:
    client = Models(models)
    got = asyncio.run(resolve_baseline(client, context(**{"validation.baseline": {"modelRef": ref}})))  # type: ignore[arg-type]
    assert (got.accuracy, got.waiting_for, got.cycle) == (expected.accuracy, expected.waiting_for, expected.cycle)
    assert client.gets <= BASELINE_CHAIN_LIMIT + 1


def test_a_number_needs_no_read() -> None:
    client = Models({})
    got = asyncio.run(resolve_baseline(client, context(**{"validation.baseline": {"accuracy": 0.6}})))  # type: ignore[arg-type]
    assert got == Baseline(accuracy=0.6) and client.gets == 0
