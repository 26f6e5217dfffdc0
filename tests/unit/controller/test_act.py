"""act(): a Deployment goes to zero only once the batch's stable Service write went through.

A rollback's switch that failed is repaired by the next reconcile, in the same batch that scales the
revision rolled back from to zero: were the scale to run while the Service still selects that revision,
the Service would be left with no ready pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest
from tests.unit.controller.builders import context

from quantop.controller.act import NotRun, act
from quantop.controller.actions import Action, ApplyDeployment, ApplyStableService, Scale
from quantop.controller.kube import KubeClient, KubeError

CTX = context()


class FakeClient:
    """Answers every GET with nothing (so applies create); fails writes of the kinds in ``failing``."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.writes: list[tuple[str, str]] = []

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return await self._write(str(obj["kind"]), str(obj["metadata"]["name"]))

    async def patch(self, kind: str, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._write(kind, name)

    async def _write(self, kind: str, name: str) -> dict[str, Any]:
        if kind in self.failing:
            raise KubeError(500, f"{kind} {name}: injected")
        self.writes.append((kind, name))
        return {}


REPAIR: list[Action] = [Scale("old", 0), ApplyStableService("new"), ApplyDeployment(0), Scale("other", 2)]


@pytest.mark.parametrize(
    ("failing", "written", "not_run"),
    [
        pytest.param(set(), ["Service", "Deployment", "Deployment", "Deployment"], 0, id="all-succeed"),
        pytest.param({"Service"}, ["Deployment"], 2, id="service-failed-nothing-goes-to-zero"),
    ],
)
async def test_a_scale_to_zero_waits_for_the_service_write(failing: set[str], written: list[str], not_run: int) -> None:
    client = FakeClient(failing)
    failures = await act(cast(KubeClient, client), CTX, REPAIR)
    assert [kind for kind, _ in client.writes] == written
    assert sum(isinstance(f.error, NotRun) for f in failures) == not_run
    assert all("stable Service" in f.describe() for f in failures if isinstance(f.error, NotRun))


async def test_zero_scales_run_after_the_service_write_whatever_their_order() -> None:
    client = FakeClient(set())
    await act(cast(KubeClient, client), CTX, REPAIR)
    assert client.writes[0][0] == "Service"
    assert [name for _, name in client.writes[1:]] == ["m-other", "m-old", f"m-{CTX.revision}"]
