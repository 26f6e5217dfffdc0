"""How long one reconcile takes against the emulated API server, first pass vs steady state, as models grow.

Prints figures; asserts nothing. Run with `make bench`.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from quantop.api import default_config
from quantop.controller import KubeClient, reconcile
from quantop.controller.kube import Credentials
from quantop.sandbox.cluster import api_server


def body(i: int) -> dict[str, object]:
    methods = ["none", "eetq", "fp8", "bitsandbytes-nf4", "bitsandbytes"]
    return {
        "apiVersion": "quantop.dev/v1alpha1",
        "kind": "QuantizedModel",
        "metadata": {"name": f"m{i}", "namespace": "bench", "uid": f"uid-{i}", "generation": 1},
        "spec": {
            "model": {"id": "microsoft/Phi-3.5-mini-instruct"},
            "quantization": {"method": methods[i % len(methods)]},
            "gpu": {"type": "a10"},
            "validation": {"slo": {"p95LatencyMs": 6000}},
        },
    }


async def run(n: int) -> None:
    async with api_server() as cluster:
        # As the sandbox does: kmock's request log would otherwise make each request scan all earlier ones.
        cluster.api.request_history = 16
        client = KubeClient(Credentials(server=str(cluster.api.url), verify=False))
        config = default_config()
        try:
            for label in ("first pass (creates children)", "steady state (nothing to do)"):
                writes_before = client.writes
                times = []
                for i in range(n):
                    started = time.perf_counter()
                    await reconcile(body(i), client, config)
                    times.append((time.perf_counter() - started) * 1000)
                print(
                    f"  {n:4d} models, {label:31s}: median {statistics.median(times):6.1f} ms, "
                    f"p95 {sorted(times)[int(0.95 * (n - 1))]:6.1f} ms per reconcile, {client.writes - writes_before:5d} writes"
                )
        finally:
            await client.aclose()


if __name__ == "__main__":
    print("reconcile cost against the emulated API server (one process, loopback HTTP):")
    for n in (10, 50, 100):
        asyncio.run(run(n))
