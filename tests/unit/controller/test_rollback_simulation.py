"""A whole rollback, decided again and again on the world its own writes made, with writes lost.

Each reconcile runs as reconcile() does: the actions before the status write go through the real
`act` (against an in-memory cluster that loses a share of writes), the status write itself may be
lost (then the actions after it do not run), and pods become available one reconcile after their
Deployment asks for them. At every write the revision the stable Service selects must have a ready
pod, and under InPlace no more than serving.replicas are ever asked for.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest
from tests.unit.controller.builders import (
    LONG_AGO,
    NAME,
    NOW,
    context,
    deployment,
    entry,
    observed,
    other_revision,
    status,
)

from quantop.api import QuantizedModelStatus
from quantop.api.status import RevisionVerdict, RollbackState
from quantop.api.timestamps import rfc3339
from quantop.controller.act import act
from quantop.controller.actions import Action, Count
from quantop.controller.decide import decide
from quantop.controller.kube import KubeClient, KubeError
from quantop.controller.reconcile import ordered
from quantop.resources import revision_name

ROLLBACK = "quantop.dev/rollback"


class World:
    """Deployments (desired and available replicas), the stable Service's revision, the model's annotations."""

    def __init__(self, rng: random.Random, loss: float, rev: str, old: str, n: int) -> None:
        self.rng, self.loss, self.n = rng, loss, n
        self.names = {revision_name(NAME, r): r for r in (rev, old)}
        self.rev = rev
        self.replicas, self.ready = {rev: n, old: 0}, {rev: n, old: 0}
        self.service: str | None = rev
        self.annotations = {ROLLBACK: "true"}
        self.peak = n
        self.gaps: list[str] = []

    def seen(self) -> Any:
        deps = [deployment(r, replicas=k, available=self.ready[r], created=LONG_AGO) for r, k in self.replicas.items()]
        return observed(*deps, annotations=dict(self.annotations))

    def tick(self) -> None:
        """Pods started since the last reconcile are ready now."""
        self.ready = dict(self.replicas)

    def check(self, when: str) -> None:
        if self.service is None or self.ready.get(self.service, 0) < 1:
            self.gaps.append(f"{when}: the stable Service selects {self.service} with no ready pod")
        self.peak = max(self.peak, sum(self.replicas.values()))

    # The KubeClient calls act() makes (every apply reads nothing and creates).
    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self._lose()
        if obj["kind"] == "Service" and obj["metadata"]["name"] == NAME:
            self.service = obj["spec"]["selector"].get("quantop.dev/revision")
        elif obj["kind"] == "Deployment":
            self._scale(self.names[obj["metadata"]["name"]], int(obj["spec"]["replicas"]))
        self.check(f"create {obj['kind']}")
        return {}

    async def patch(self, kind: str, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._lose()
        if kind == "Deployment":
            self._scale(self.names[name], int(body["spec"]["replicas"]))
        elif kind == "QuantizedModel":
            self.annotations.pop(ROLLBACK, None)
        self.check(f"patch {kind} {name}")
        return {}

    def _scale(self, revision: str, replicas: int) -> None:
        self.replicas[revision] = replicas
        self.ready[revision] = min(self.ready[revision], replicas)  # pods stop at once, start a reconcile later

    def _lose(self) -> None:
        if self.rng.random() < self.loss:
            raise KubeError(500, "lost")


async def reconcile_once(
    world: World, spec: dict[str, Any], st: QuantizedModelStatus, now: dt.datetime
) -> tuple[QuantizedModelStatus, Sequence[Action]]:
    ctx = context(**spec)
    new, actions = decide(ctx, st, world.seen(), now)
    before, after = ordered(actions, persisted_stable=st.stable_revision, spec_revision=ctx.revision)
    await act(cast(KubeClient, world), ctx, before)
    if world.rng.random() < world.loss:
        return st, []  # the status write was lost: nothing after it runs, the next reconcile decides again
    await act(cast(KubeClient, world), ctx, after)
    return new, actions


STRATEGIES = [
    pytest.param({"serving.replicas": 2}, id="rolling"),
    pytest.param({"promotion.strategy": "InPlace", "serving.replicas": 3}, id="in-place"),
]


@pytest.mark.parametrize("spec", STRATEGIES)
@pytest.mark.parametrize("loss", [0.0, 0.2, 0.4], ids=["no-lost-writes", "a-fifth-lost", "two-fifths-lost"])
async def test_a_rollback_to_a_cold_revision_never_leaves_the_service_without_a_ready_pod(
    spec: dict[str, Any], loss: float
) -> None:
    rev, n = context(**spec).revision, int(spec["serving.replicas"])
    old = other_revision(**{**spec, "quantization.method": "fp8"})
    for seed in range(25):
        world = World(random.Random(seed), loss, rev, old, n)
        history = [entry(old, RevisionVerdict.PROMOTED), entry(rev, RevisionVerdict.PROMOTED)]
        st = status(stable_revision=rev, previous_revision=old, promoted_at=rfc3339(LONG_AGO), history=history)
        now, counts = NOW, 0
        for _ in range(300):
            st, actions = await reconcile_once(world, spec, st, now)
            counts += sum(isinstance(a, Count) and a.counter == "rollback" for a in actions)
            world.tick()
            now += dt.timedelta(seconds=5)
            if st.stable_revision == old and world.replicas == {rev: 0, old: n} and world.service == old:
                break
        assert world.gaps == [], f"seed {seed}: {world.gaps[:3]}"
        assert (st.stable_revision, world.service, world.replicas) == (old, old, {rev: 0, old: n}), seed
        assert st.rollback is not None and st.rollback.state == RollbackState.ROLLED_BACK, seed
        assert [h.verdict for h in st.history].count(RevisionVerdict.ROLLED_BACK) == 1, seed
        assert counts == 1, f"seed {seed}: counted {counts} rollbacks"
        if "promotion.strategy" in spec:
            assert world.peak <= n, f"seed {seed}: {world.peak} replicas asked for under InPlace"
