"""`make demo`: the guide's A10 comparison, run by the operator end to end in the sandbox.

1. The planner's verdict for Phi-3.5-mini-instruct on an A10 and on a T4.
2. The sandbox (emulated API server, the real kopf operator, a node simulator running the TGI
   emulator and the real validation Jobs) gets the guide's six A10 configurations and one
   the planner refuses. Each candidate is deployed, load-tested with locust and scored on the
   held-out text-to-SQL set; it is promoted only if it meets the p95 SLO and the accuracy gate.
3. The guide's table, built from the QuantizedModels' status, and the plots from the reports.
4. A migration: the promoted fp8 model moves from TGI to vLLM as a new revision, validated the same way.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from quantop.api.conditions import ConditionType
from quantop.api.status import GateResult
from quantop.validation.gates import evidence_summary

from .migration import Migration, migrate_to_vllm
from .runner import Sandbox, sandbox

ROOT = Path(__file__).resolve().parents[3]
WORKDIR = ROOT / ".sandbox" / "demo"
EXAMPLES = [*sorted((ROOT / "examples" / "guide-a10").glob("*.yaml")), ROOT / "examples" / "refused-fp8-on-t4.yaml"]
DONE_PHASES = {"Promoted", "Failed"}
TIMEOUT_S = 20 * 60


def _banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return {}


def _finished(obj: dict[str, Any]) -> bool:
    refused = _condition(obj, ConditionType.COMPATIBLE).get("status") == "False"
    return refused or (obj.get("status") or {}).get("phase") in DONE_PHASES


def _fmt(value: Any, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def comparison_table(objs: list[dict[str, Any]]) -> str:
    """The guide's table from status: the stable results when promoted, the candidate's otherwise."""
    header = ["QuantizedModel", "--quantize", "Phase", "Verdict", "Median", "P95", "P98", "Size", "Speed", "Accuracy"]
    header += ["$/1M tok", "Evidence"]
    rows = []
    for obj in objs:
        st = obj.get("status") or {}
        r = st.get("results") if st.get("phase") == "Promoted" else st.get("candidateResults")
        r = r or {}
        gates = [GateResult.model_validate(g) for g in r.get("gates", [])]
        rows.append(
            [
                obj["metadata"]["name"],
                obj["spec"]["quantization"]["method"],
                st.get("phase", "-"),
                r.get("verdict") or "-",
                _fmt(r.get("p50Ms"), ".0f"),
                _fmt(r.get("p95Ms"), ".0f"),
                _fmt(r.get("p98Ms"), ".0f"),
                _fmt(r.get("sizeReduction"), ".1f", "x"),
                _fmt(r.get("speedup"), ".2f", "x"),
                _fmt(r.get("accuracy"), ".3f"),
                _fmt(r.get("costPerMillionTokens"), ".2f"),
                evidence_summary(gates) if gates else "-",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)) for line in [header, *rows]]
    return "\n".join(lines)


async def _run_sandbox() -> int:
    docs = [d for path in EXAMPLES for d in yaml.safe_load_all(path.read_text()) if d]
    async with sandbox(WORKDIR) as sb:
        print(f"sandbox API server {sb.cluster.api.url}; to watch from another terminal:")
        print(f"  export KUBECONFIG={sb.kubeconfig}; kubectl get qm -n demo -w")
        for doc in docs:
            await sb.cluster.create(doc)
            print(f"kubectl apply: quantizedmodel.quantop.dev/{doc['metadata']['name']} created")
        seen: dict[str, str] = {}
        start = time.monotonic()
        while True:
            objs = [await sb.cluster.qm(d["metadata"]["namespace"], d["metadata"]["name"]) or d for d in docs]
            for obj in objs:
                st = obj.get("status") or {}
                line = f"{st.get('phase', 'Pending')}: {st.get('message', '')}"
                if seen.get(obj["metadata"]["name"]) != line:
                    seen[obj["metadata"]["name"]] = line
                    elapsed = time.monotonic() - start
                    print(f"[{elapsed:5.0f}s] {obj['metadata']['name']:<14} {line[:150]}", flush=True)
            if all(_finished(o) for o in objs):
                break
            if time.monotonic() - start > TIMEOUT_S:
                print(f"demo: not finished after {TIMEOUT_S // 60} minutes; logs in {WORKDIR / 'logs'}")
                return 1
            await asyncio.sleep(2)
        _print_results(objs)
        migration = await _migrate(sb, objs)
    if migration is not None:
        _print_migration(migration)
    return 0


def _print_results(objs: list[dict[str, Any]]) -> None:
    _banner("the guide's table, from the QuantizedModels' status (kubectl get qm -n demo -o yaml)")
    print(comparison_table(objs))
    for obj in objs:
        st = obj.get("status") or {}
        refused = _condition(obj, ConditionType.COMPATIBLE)
        if refused.get("reason") == "SupportedWithCaveats":
            print(f"\n{obj['metadata']['name']}: planner warning: {refused.get('message')}")
        if refused.get("status") == "False":
            print(f"\n{obj['metadata']['name']}: refused by the planner: {refused.get('message')}")
        elif st.get("phase") == "Failed":
            print(f"\n{obj['metadata']['name']}: {st.get('message')}")


MIGRATED = ("demo", "phi35-fp8")


async def _migrate(sb: Sandbox, objs: list[dict[str, Any]]) -> Migration | None:
    """Move the promoted fp8 model to vLLM (a new revision, validated like any other); None if fp8 was not promoted."""
    ns, name = MIGRATED
    if not any(o["metadata"]["name"] == name and (o.get("status") or {}).get("phase") == "Promoted" for o in objs):
        return None
    _banner(f'kubectl patch qm {name} -n {ns} --type merge -p \'{{"spec":{{"engine":"vllm"}}}}\'')
    print(
        "the vLLM revision is deployed beside the stable TGI one, validated with the same gates, then promoted or not"
    )
    return await migrate_to_vllm(sb, ns, name, timeout=TIMEOUT_S)


def _print_migration(m: Migration) -> None:
    _banner(f"{MIGRATED[1]}: TGI -> vLLM, " + ("promoted" if m.promoted else "not promoted: TGI keeps serving"))
    engines = {m.before: "tgi", m.after: "vllm"}
    print(f"{'revision':<9} {'engine':<7} {'method':<8} {'verdict':<13} {'p95 ms':>7} {'accuracy':>8}")
    for r in m.rows:
        p95, acc = _fmt(r.get("p95Ms"), ".0f"), _fmt(r.get("accuracy"), ".3f")
        engine = engines.get(r["revision"], "-")
        print(f"{r['revision']:<9} {engine:<7} {r['method']:<8} {r['verdict']:<13} {p95:>7} {acc:>8}")


def _plots() -> None:
    reports = sorted(WORKDIR.glob("reports/*/quantop-validation-*/report.json"))
    if not reports:
        return
    default = [r for r in reports if "default" in str(r.parent.parent.name)]
    ordered = default + [r for r in reports if r not in default]
    _banner("quantop report " + " ".join(str(r.relative_to(ROOT)) for r in ordered[:2]) + " ...")
    subprocess.run(
        [sys.executable, "-m", "quantop.cli", "report", *map(str, ordered), "--plots", str(WORKDIR / "plots")],
        check=False,
    )
    print(f"\nreports: {WORKDIR / 'reports'}/*/quantop-validation-*/report.json; logs: {WORKDIR / 'logs'}")


def main() -> int:
    quantop = [sys.executable, "-m", "quantop.cli"]
    for gpu in ("a10", "t4"):
        _banner(f"quantop plan --model microsoft/Phi-3.5-mini-instruct --gpu {gpu}")
        subprocess.run([*quantop, "plan", "--model", "microsoft/Phi-3.5-mini-instruct", "--gpu", gpu], check=True)
    _banner("the guide's six A10 configurations + fp8 on a T4, applied to the sandbox")
    print("each candidate: deploy, 100 users for 30 s (5 s warm-up), 40 accuracy samples; one validation at a time")
    code = asyncio.run(_run_sandbox())
    _plots()
    return code


if __name__ == "__main__":
    sys.exit(main())
