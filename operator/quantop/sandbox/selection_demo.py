"""The `method: auto` part of the demo: two QuantizedModels that run the guide's study by themselves.

examples/auto/phi35-auto-latency.yaml (objective latency: the guide's six A10 rows, the lowest p95 that
passes wins) and phi35-auto-memory.yaml (objective memory: a 4-bit method if one passes, or why none
did). Each is applied to a sandbox; once its selection has ended (winner promoted, or no candidate
passed), its status.selection is printed as the guide's table with the GPU-minutes it used against the
guide's manual protocol (6 configurations x 5 minutes).

`make demo` (quantop.sandbox.demo) applies them beside the guide's six manual models in one sandbox and
prints `report` for each; `python -m quantop.sandbox.selection_demo` (`make demo-auto`) runs them alone, in a
sandbox of their own with one validation at a time.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from quantop.api.selection import SelectionPhase, SelectionStatus
from quantop.validation.selection_report import render

from .runner import Sandbox, sandbox

ROOT = Path(__file__).resolve().parents[3]
AUTO_EXAMPLES = sorted((ROOT / "examples" / "auto").glob("*.yaml"))
WORKDIR = ROOT / ".sandbox" / "selection-demo"
TIMEOUT_S = 40 * 60


def _selection(obj: Mapping[str, Any]) -> SelectionStatus | None:
    raw = (obj.get("status") or {}).get("selection")
    return SelectionStatus.model_validate(raw) if raw else None


def _refused(obj: Mapping[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Compatible" and c.get("status") == "False" for c in conditions)


def selection_ended(obj: Mapping[str, Any]) -> bool:
    """Refused, no candidate passed, or the winner promoted (or its promotion failed): nothing more happens."""
    if _refused(obj):
        return True
    sel, st = _selection(obj), obj.get("status") or {}
    if sel is None:
        return False
    if sel.phase in (SelectionPhase.NO_CANDIDATE_PASSED, SelectionPhase.REFUSED):
        return True
    if sel.phase != SelectionPhase.CHOSEN:
        return False
    return bool(st.get("stableRevision") == sel.winner_revision or st.get("phase") in ("Failed", "AwaitingPromotion"))


def report(obj: Mapping[str, Any]) -> str:
    """The model's selection as `quantop report qm/NAME` prints it, with what serves now."""
    name = obj["metadata"]["name"]
    sel = _selection(obj)
    st = obj.get("status") or {}
    if sel is None:
        return f"{name}: no selection ({st.get('message', 'no status')})"
    serving = f"stable revision {st['stableRevision']}" if st.get("stableRevision") else "nothing promoted"
    return f"{name} ({serving}; {st.get('phase', '-')})\n{render(sel)}"


def load_docs(paths: list[Path] | None = None) -> list[dict[str, Any]]:
    return [d for p in paths or AUTO_EXAMPLES for d in yaml.safe_load_all(p.read_text()) if d]


async def demo_selections(
    sb: Sandbox,
    docs: list[dict[str, Any]] | None = None,
    *,
    timeout: float = TIMEOUT_S,
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Apply the auto models, follow their status messages, and return them once every selection ended."""
    docs = docs if docs is not None else load_docs()
    for doc in docs:
        await sb.cluster.create(doc)
        say(f"kubectl apply: quantizedmodel.quantop.dev/{doc['metadata']['name']} created (method: auto)")
    seen: dict[str, str] = {}
    start = time.monotonic()
    while True:
        objs = [await sb.cluster.qm(d["metadata"]["namespace"], d["metadata"]["name"]) or d for d in docs]
        for obj in objs:
            line = (obj.get("status") or {}).get("message", "")
            if line and seen.get(obj["metadata"]["name"]) != line:
                seen[obj["metadata"]["name"]] = line
                say(f"[{time.monotonic() - start:5.0f}s] {obj['metadata']['name']:<18} {line[:160]}")
        if all(selection_ended(o) for o in objs) or time.monotonic() - start > timeout:
            return objs
        await asyncio.sleep(2)


async def _main(paths: list[Path]) -> int:
    async with sandbox(WORKDIR) as sb:
        print(f"sandbox API server {sb.cluster.api.url}; export KUBECONFIG={sb.kubeconfig}; kubectl get qm -n demo -w")
        objs = await demo_selections(sb, load_docs(paths or None))
    for obj in objs:
        print(f"\n\033[1m== quantop report qm/{obj['metadata']['name']} -n demo\033[0m")
        print(report(obj))
    return 0 if all(selection_ended(o) for o in objs) else 1


def main(argv: list[str] | None = None) -> int:
    """Every example in examples/auto, or the files named on the command line."""
    return asyncio.run(_main([Path(a) for a in (sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
