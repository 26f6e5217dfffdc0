"""`make demo`: what quantop can do today, end to end on an emulated API server.

1. The planner's verdict for Phi-3.5-mini-instruct on an A10 and on a T4.
2. The real operator (kopf) reconciling every example: the ones it deploys and the ones it refuses.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .cluster import api_server, operator

ROOT = Path(__file__).resolve().parents[3]


def _banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def _cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return {}


def _examples() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "QuantizedModel"]
    return docs


async def _reconcile_examples() -> int:
    docs = _examples()
    async with api_server() as cluster:
        with operator(cluster):
            for doc in docs:
                await cluster.create(doc)
            results = []
            for doc in docs:
                ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
                obj = await cluster.wait_for(
                    functools.partial(cluster.qm, ns, name), lambda o: bool(_cond(o, "Compatible"))
                )
                results.append(obj)
            deployments = sum([len(await cluster.list("apps/v1", "deployments", ns)) for ns in {"llm", "demo"}], 0)
    print(f"{'NAMESPACE':<6} {'NAME':<15} {'METHOD':<17} {'GPU':<4} {'PHASE':<10} {'COMPATIBLE':<28} MESSAGE")
    for obj in results:
        c = _cond(obj, "Compatible")
        spec = obj["spec"]
        print(
            f"{obj['metadata']['namespace']:<6} {obj['metadata']['name']:<15} {spec['quantization']['method']:<17} "
            f"{spec['gpu']['type']:<4} {obj['status']['phase']:<10} {c['status'] + '/' + c['reason']:<28} {c['message'][:90]}"
        )
    print(f"\n{deployments} TGI Deployments created; refused models created nothing.")
    return 0


def main() -> int:
    quantop = [sys.executable, "-m", "quantop.cli"]
    for gpu in ("a10", "t4"):
        _banner(f"quantop plan --model microsoft/Phi-3.5-mini-instruct --gpu {gpu}")
        subprocess.run([*quantop, "plan", "--model", "microsoft/Phi-3.5-mini-instruct", "--gpu", gpu], check=True)
    _banner("quantop render -f examples/guide-a10/phi35-eetq.yaml  (first 30 lines)")
    out = subprocess.run(
        [*quantop, "render", "-f", str(ROOT / "examples/guide-a10/phi35-eetq.yaml")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print("\n".join(out.splitlines()[:30]) + "\n...")
    _banner("the operator (kopf) reconciling every example on an emulated API server")
    return asyncio.run(_reconcile_examples())


if __name__ == "__main__":
    sys.exit(main())
