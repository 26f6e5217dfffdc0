"""`make demo`: the guide's A10 comparison, run by the operator end to end in the sandbox.

1. The planner's verdict for Phi-3.5-mini-instruct on an A10 and on a T4.
2. The sandbox (emulated API server, the real kopf operator, a node simulator running the TGI
   emulator and the real validation Jobs) gets the guide's six A10 configurations, one the
   planner refuses, and two `method: auto` models (examples/auto: objective latency and memory)
   that run the guide's study by themselves. Each candidate is deployed, load-tested and scored on
   the held-out text-to-SQL set; it is promoted only if it meets the p95 SLO and the accuracy gate.
3. The guide's table, built from the QuantizedModels' status; each auto model's table as
   `quantop report qm/NAME` prints it, with the GPU-minutes its selection used; the plots.
4. A migration: the promoted fp8 model moves from TGI to vLLM as a new revision, validated the same
   way (it starts as soon as fp8 is promoted, beside the selections).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from quantop.api.conditions import ConditionType
from quantop.api.status import GateResult
from quantop.validation.gates import evidence_summary

from .migration import Migration, migrate_to_vllm
from .runner import Sandbox, sandbox
from .selection_demo import AUTO_EXAMPLES, selection_ended
from .selection_demo import report as selection_report

ROOT = Path(__file__).resolve().parents[3]
WORKDIR = ROOT / ".sandbox" / "demo"
EXAMPLES = [*sorted((ROOT / "examples" / "guide-a10").glob("*.yaml")), ROOT / "examples" / "refused-fp8-on-t4.yaml"]
DONE_PHASES = {"Promoted", "Failed"}
TIMEOUT_S = 35 * 60
#: Validation Jobs at once: two emulated A10 validation slots, so the two `method: auto` models
#: run beside the six manual ones without doubling the demo's time (README: what this costs in accuracy of timing).
PARALLEL_JOBS = 2


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


#: A selection's message counts its GPU-minutes up every few seconds; that alone is not news.
_GPU_MINUTES = re.compile(r"\b\d+(\.\d+)? GPU-minutes")


def progress_key(line: str) -> str:
    """The part of a status line whose change is worth a line of demo output."""
    return _GPU_MINUTES.sub("GPU-minutes", line)


@dataclass
class Progress:
    """What the demo has seen: each model's last status line, and each one frozen as it finished."""

    start: float = field(default_factory=time.monotonic)
    seen: dict[str, str] = field(default_factory=dict)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished_s: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def step(self, obj: dict[str, Any]) -> None:
        """Print the model's status line when it changed; freeze the model once nothing more happens to it."""
        name, st = obj["metadata"]["name"], obj.get("status") or {}
        line = f"{st.get('phase', 'Pending')}: {st.get('message', '')}"
        if self.seen.get(name) != (key := progress_key(line)):
            self.seen[name] = key
            print(f"[{self.elapsed():5.0f}s] {name:<18} {line[:150]}", flush=True)
        if _done(obj):
            # Frozen: the migration later patches phi35-fp8, and its table row is the TGI one.
            self.final[name] = obj
            self.finished_s[name] = self.elapsed()


def _is_auto(doc: dict[str, Any]) -> bool:
    return bool(doc["spec"]["quantization"]["method"] == "auto")


def _done(obj: dict[str, Any]) -> bool:
    return selection_ended(obj) if _is_auto(obj) else _finished(obj)


def _promoted(obj: dict[str, Any] | None) -> bool:
    return obj is not None and (obj.get("status") or {}).get("phase") == "Promoted"


async def _watch(sb: Sandbox, docs: list[dict[str, Any]], progress: Progress) -> asyncio.Task[Migration] | None:
    """Follow every model until each has finished; the migration starts as soon as fp8 is promoted."""
    migration: asyncio.Task[Migration] | None = None
    while len(progress.final) < len(docs):
        for doc in docs:
            ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
            if name not in progress.final:
                progress.step(await sb.cluster.qm(ns, name) or doc)
        if migration is None and _promoted(progress.final.get(MIGRATED[1])):
            migration = asyncio.create_task(_migrate(sb))
        if progress.elapsed() > TIMEOUT_S:
            raise TimeoutError(f"demo: not finished after {TIMEOUT_S // 60} minutes; logs in {WORKDIR / 'logs'}")
        await asyncio.sleep(2)
    return migration


async def _run_sandbox() -> int:
    docs = [d for path in [*EXAMPLES, *AUTO_EXAMPLES] for d in yaml.safe_load_all(path.read_text()) if d]
    async with sandbox(WORKDIR, max_parallel_jobs=PARALLEL_JOBS) as sb:
        print(f"sandbox API server {sb.cluster.api.url}; to watch from another terminal:")
        print(f"  export KUBECONFIG={sb.kubeconfig}; kubectl get qm -n demo -w")
        for doc in docs:
            await sb.cluster.create(doc)
            auto = " (method: auto)" if _is_auto(doc) else ""
            print(f"kubectl apply: quantizedmodel.quantop.dev/{doc['metadata']['name']} created{auto}")
        progress = Progress()
        try:
            migration_task = await _watch(sb, docs, progress)
        except TimeoutError as exc:
            print(exc)
            return 1
        # (a migration still running when the sandbox stops is cancelled with it)
        objs = [progress.final[d["metadata"]["name"]] for d in docs]
        _print_results([o for o in objs if not _is_auto(o)])
        _print_selections([o for o in objs if _is_auto(o)], progress)
        print(f"\nevery model ended {max(progress.finished_s.values()):.0f} s after they were applied")
        migration = await migration_task if migration_task is not None else None
        if migration is not None:
            print(f"the migration ended {progress.elapsed():.0f} s after the models were applied")
    if migration is not None:
        _print_migration(migration)
    return 0


def _print_selections(objs: list[dict[str, Any]], progress: Progress) -> None:
    for obj in objs:
        name = obj["metadata"]["name"]
        _banner(f"quantop report qm/{name} -n demo  (selection ended {progress.finished_s[name]:.0f} s after apply)")
        print(selection_report(obj))
    print(
        f"\n(GPU-minutes count from a candidate's deployment to its verdict, here including its wait for one of the"
        f" sandbox's {PARALLEL_JOBS} validation slots while the manual models' Jobs ran; `make demo-auto` runs the"
        " two alone)"
    )


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


async def _migrate(sb: Sandbox) -> Migration:
    """Move the promoted fp8 model to vLLM: a new revision, validated like any other."""
    ns, name = MIGRATED
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


def _model_of(job_dir: str, models: list[tuple[str, str]]) -> str | None:
    """The model whose validation Job wrote reports/NAMESPACE_MODEL-REVISION-validate/ (a revision has no dash)."""
    for ns, name in models:
        rest = job_dir.removeprefix(f"{ns}_{name}-")
        if rest != job_dir and rest.endswith("-validate") and rest.count("-") == 1:
            return name
    return None


def guide_reports(reports: list[Path], models: list[tuple[str, str]], baseline: str = "phi35-default") -> list[Path]:
    """The reports of the guide's manual models (the auto models' candidates have their own tables), baseline first."""
    mine = [r for r in reports if _model_of(r.parent.parent.name, models) is not None]
    return sorted(mine, key=lambda r: _model_of(r.parent.parent.name, models) != baseline)


def _plots(models: list[tuple[str, str]]) -> None:
    ordered = guide_reports(sorted(WORKDIR.glob("reports/*/quantop-validation-*/report.json")), models)
    if not ordered:
        return
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
    _banner("the guide's six A10 configurations, fp8 on a T4 and two method: auto models, applied to the sandbox")
    print(
        "each candidate: deploy, up to 2 min of 100 users and 300 accuracy items (both stop once the verdict is"
        f" certain); {PARALLEL_JOBS} validations at a time"
    )
    code = asyncio.run(_run_sandbox())
    manual = [d for path in EXAMPLES for d in yaml.safe_load_all(path.read_text()) if d]
    _plots([(d["metadata"]["namespace"], d["metadata"]["name"]) for d in manual])
    return code


if __name__ == "__main__":
    sys.exit(main())
