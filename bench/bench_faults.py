"""How long the lifecycle takes to converge with and without API faults (goal: within 3x of fault-free).

The lifecycle of tests/integration/test_faults.py (three models at once: promote, spec change,
rollback; manual promotion; a failing candidate), run by the real operator through the fault proxy
(quantop.sandbox.faults) at 0% and 10% faults. Prints figures; asserts nothing. Run with `make bench`.
Seeds: QUANTOP_FAULT_SEEDS=1,2,3 (default 1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package holds the lifecycle

from tests.integration.lifecycle import SCENARIOS, Kubelet, Recorder, end_state, playing_kubelet

from quantop.sandbox.cluster import Cluster, api_server
from quantop.sandbox.faults import FaultRates, fault_proxy, operator_behind


async def timed(name: str, cluster: Cluster, kubelet: Kubelet) -> float:
    started = time.perf_counter()
    await SCENARIOS[name](cluster, kubelet)
    return time.perf_counter() - started


async def run(rate: float, seed: int) -> tuple[dict[str, float], int, dict[str, Any]]:
    async with api_server() as cluster:
        cluster.api.request_history = 16
        kubelet = Kubelet(cluster)
        async with (
            fault_proxy(str(cluster.api.url), FaultRates(rate), seed=seed) as proxy,
            playing_kubelet(cluster, kubelet, Recorder()),
            operator_behind(proxy.url, api_timeout_seconds=2.0),
        ):
            names = list(SCENARIOS)
            seconds = await asyncio.gather(*(timed(n, cluster, kubelet) for n in names))
            proxy.enabled = False
            ends = {n: await end_state(cluster, n) for n in names}
        return dict(zip(names, seconds, strict=True)), len(proxy.injected), ends


def main() -> None:
    logging.disable(logging.WARNING)  # kopf logs every injected fault; the figures are what matters here
    seeds = [int(s) for s in (os.environ.get("QUANTOP_FAULT_SEEDS") or "1").split(",")]
    print("lifecycle convergence, real operator through the fault proxy (seconds from create to the last state):")
    free, _, free_end = asyncio.run(run(0.0, 0))
    print(f"  {'fault-free':22s}: " + ", ".join(f"{n} {s:6.1f}" for n, s in free.items()))
    for seed in seeds:
        faulty, injected, ends = asyncio.run(run(0.1, seed))
        ratios = ", ".join(f"{n} {faulty[n]:6.1f} ({faulty[n] / free[n]:.1f}x)" for n in faulty)
        same = "same end state" if ends == free_end else "END STATE DIFFERS"
        print(f"  10% faults, seed {seed:<6d}: {ratios}; {injected} faults injected; {same}")


if __name__ == "__main__":
    main()
