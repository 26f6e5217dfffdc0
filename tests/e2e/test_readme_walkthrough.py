"""README's "A kubectl session against the sandbox", run command by command with the real kubectl.

The commands are read from README.md, so the README cannot promise a session that does not work:
the test fails when a command is added, changed or removed there without a check here. Each check
is what the command's comment says it shows. Two things differ from a user's session, both to keep
the test short on a busy machine: the manifests applied are examples/guide-a10's with shorter
validations (a few seconds of load, 10 accuracy samples, a loose accuracy margin, inconclusive gates
promoted: this test is about what kubectl shows, not about the gates), and the emulated TGI runs at a fifth of the A10's latency
(the 6500 ms SLO still holds for every configuration; the `slow` fault, 3x the A10's latency, fails it).
A `-w` command runs until the state its comment names is reached, as a user would press Ctrl-C.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import ROOT
from tests.e2e.test_kubectl import KUBECTL, kubectl, kubectl_env

from quantop.sandbox.runner import Sandbox, sandbox

pytestmark = pytest.mark.e2e
NS, EETQ = "demo", "phi35-eetq"
GUIDE = "examples/guide-a10/"
#: A backstop for a broken build only: every step ends on a state, and a slow machine just takes longer.
BACKSTOP_S = 900


def readme_session() -> list[str]:
    """The kubectl commands of README's sandbox session, comments and continuation lines dropped."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### A kubectl session against the sandbox") :]
    block = section[section.index("```sh\n") + 6 :]
    block = block[: block.index("```")]
    return [re.split(r"\s{2,}#", line)[0].strip() for line in block.splitlines() if line.startswith("kubectl ")]


def shortened(examples: Path, into: Path) -> Path:
    """examples/guide-a10 with validations of a few seconds (see the module docstring)."""
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted(examples.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        validation = doc["spec"]["validation"]
        validation["load"] = {"users": 16, "duration": "5s", "warmup": "1s", "maxNewTokens": 128}
        validation["accuracy"]["samples"] = 10
        # A few seconds cannot decide every gate at 95%: what they cannot decide is promoted here, while
        # the slow revision's p95 (about 3x its SLO) is decided Failed all the same.
        validation["onInconclusive"] = "Promote"
        if "modelRef" in validation.get("baseline", {}):
            validation["baseline"]["maxAccuracyDrop"] = 0.5
        (into / path.name).write_text(yaml.safe_dump(doc))
    return into


@dataclass
class Session:
    sb: Sandbox
    guide: Path
    seen: dict[str, str] = field(default_factory=dict)  # facts one step leaves for a later one

    async def qm(self, name: str = EETQ) -> dict[str, Any]:
        return await self.sb.cluster.qm(NS, name) or {}

    async def status(self, name: str = EETQ) -> dict[str, Any]:
        return dict((await self.qm(name)).get("status") or {})

    async def until(self, what: str, predicate: Callable[[], Awaitable[bool]]) -> None:
        try:
            async with asyncio.timeout(BACKSTOP_S):
                while not await predicate():
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"never reached: {what}; status {await self.status()}") from None

    async def run(self, args: list[str]) -> tuple[int, str, str]:
        args = [str(self.guide) if a == GUIDE else a for a in args]
        return await kubectl(self.sb.kubeconfig, *args)

    async def watch(self, args: list[str], done: Callable[[list[str]], Awaitable[bool]], what: str) -> list[str]:
        """`kubectl get -w` until its output shows `done` (what a user waits to see), then Ctrl-C."""
        assert KUBECTL
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, env=kubectl_env(self.sb.kubeconfig), stdout=asyncio.subprocess.PIPE
        )
        lines: list[str] = []

        async def read() -> None:
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                lines.append(line.decode().rstrip("\n"))

        reader = asyncio.create_task(read())
        try:
            await self.until(what, lambda: done(lines))
        finally:
            proc.terminate()
            await proc.wait()
            await reader
        return lines


def rows(lines: list[str], name: str) -> list[list[str]]:
    """The rows printed for one object, as tokens. Empty cells print nothing and `-w` rows are not
    aligned with the header, so the checks look for tokens, not for columns."""
    return [line.split() for line in lines if line.split()[:1] == [name]]


def revisions(row: list[str]) -> list[str]:
    return [t for t in row if re.fullmatch(r"[0-9a-f]{6}", t)]


def numbers(row: list[str]) -> list[str]:
    return [t for t in row if re.fullmatch(r"[0-9]+(\.[0-9]+)?", t) and t not in revisions(row)]


def history(status: dict[str, Any], revision: str) -> str | None:
    """The latest verdict the history records for `revision` (a revision may have several)."""
    return next((h["verdict"] for h in reversed(status.get("history", [])) if h["revision"] == revision), None)


# --- the steps: what each README comment promises -----------------------------------------------


async def apply_guide(s: Session, args: list[str]) -> None:
    rc, out, err = await s.run(args)
    assert rc == 0, err
    created = sorted(line.split()[0] for line in out.splitlines())
    assert created == sorted(f"quantizedmodel.quantop.dev/{p.stem}" for p in s.guide.glob("*.yaml"))


async def watch_all(s: Session, args: list[str]) -> None:
    async def default_filled_in(lines: list[str]) -> bool:
        return any("Promoted" in r and len(numbers(r)) >= 3 for r in rows(lines, "phi35-default"))

    lines = await s.watch(args, default_filled_in, "phi35-default's row Promoted with P95, RPS, ACCURACY")
    assert lines[0].split()[:9] == ["NAME", "MODEL", "METHOD", "GPU", "PHASE", "STABLE", "P95", "RPS", "ACCURACY"]
    assert sum(line.startswith("NAME") for line in lines) == 1, lines  # one header, then a row per change
    assert all(rows(lines, p.stem) for p in s.guide.glob("*.yaml")), lines
    assert len(rows(lines, "phi35-default")) >= 3, lines  # it changed phase on screen, not only at the end
    assert len(revisions(rows(lines, "phi35-default")[-1])) == 1, lines  # STABLE


async def describe_fp8(s: Session, args: list[str]) -> None:
    rc, out, err = await s.run(args)
    assert rc == 0, err
    conditions = out[out.index("Conditions:") :].split("Last Transition Time:")
    (compatible,) = [c for c in conditions if re.search(r"Type:\s+Compatible\n", c)]
    assert re.search(r"Reason:\s+SupportedWithCaveats\n", compatible), compatible
    assert re.search(r"Status:\s+True\n", compatible) and "weight-only" in compatible, compatible


async def wait_eetq(s: Session, args: list[str]) -> None:
    rc, out, err = await s.run(args)
    assert rc == 0, err
    assert out.strip() == f"quantizedmodel.quantop.dev/{EETQ} condition met"  # the named object, no other
    s.seen["first"] = (await s.status())["stableRevision"]


async def patch_spec(s: Session, args: list[str]) -> None:
    before = (await s.qm())["metadata"]["generation"]
    rc, out, err = await s.run(args)
    assert rc == 0 and out.strip() == f"quantizedmodel.quantop.dev/{EETQ} patched", err
    assert (await s.qm())["metadata"]["generation"] == before + 1


async def watch_promotion(s: Session, args: list[str]) -> None:
    first = s.seen["first"]

    async def promoted(lines: list[str]) -> bool:
        return any("Promoted" in r and revisions(r) not in ([], [first]) for r in rows(lines, EETQ))

    lines = await s.watch(args, promoted, "a row Promoted with a new STABLE")
    eetq = rows(lines, EETQ)
    assert revisions(eetq[0]) == [first], lines
    assert any("Validating" in r for r in eetq), lines
    s.seen["second"] = revisions(eetq[-1])[0]
    assert (await s.status())["stableRevision"] == s.seen["second"]


async def annotate_rollback(s: Session, args: list[str]) -> None:
    rc, out, err = await s.run(args)
    assert rc == 0 and "annotated" in out, err


async def get_after_rollback(s: Session, args: list[str]) -> None:
    async def back() -> bool:
        rc, out, _ = await s.run(args)
        return rc == 0 and revisions(rows(out.splitlines(), EETQ)[0]) == [s.seen["first"]]

    await s.until("STABLE back on the first revision", back)
    assert history(await s.status(), s.seen["second"]) == "RolledBack"

    async def serving() -> bool:  # its pods run again before the fault annotation could reach them
        dep = await s.sb.cluster.get("apps/v1", "deployments", NS, f"{EETQ}-{s.seen['first']}")
        return bool(dep and (dep.get("status") or {}).get("readyReplicas"))

    await s.until("the first revision's pods ready", serving)


async def annotate_fault(s: Session, args: list[str]) -> None:
    rc, out, err = await s.run(args)
    assert rc == 0 and "annotated" in out, err


async def watch_failure(s: Session, args: list[str]) -> None:
    async def failed(lines: list[str]) -> bool:
        # The row printed last shows the latest state: once the history records the new revision's
        # verdict, that row says so (a row printed before it may show an older phase).
        st, eetq = await s.status(), rows(lines, EETQ)
        third = [h for h in st.get("history", []) if h["revision"] not in (s.seen["first"], s.seen["second"])]
        return (
            bool(third and eetq)
            and third[-1]["verdict"] in ("Failed", "Error")
            and bool({"Failed", "Error"} & set(eetq[-1]))
        )

    lines = await s.watch(args, failed, "the slow revision failed, and the last row says so")
    assert all(revisions(r)[:1] == [s.seen["first"]] for r in rows(lines, EETQ)), lines  # STABLE stays
    st = await s.status()
    assert st["stableRevision"] == s.seen["first"], st
    third = [h for h in st["history"] if h["revision"] not in (s.seen["first"], s.seen["second"])]
    assert third and third[-1]["verdict"] == "Failed", st["history"]
    assert "p95" in third[-1]["message"].lower(), third[-1]  # it failed its latency SLO
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready  # the stable revision kept serving
    s.seen["third"] = third[-1]["revision"]


async def get_events(s: Session, args: list[str]) -> None:
    rc, out, err = await s.run(args)
    assert rc == 0, err
    assert out.split()[:5] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT"]
    reasons = {line.split()[2] for line in out.splitlines()[1:]}
    assert {"Promoted", "RolledBack"} <= reasons, out
    assert all(f"quantizedmodel/{EETQ}" in line for line in out.splitlines()[1:]), out
    assert s.seen["third"] in out, out  # the failed revision is named


SESSION: list[tuple[str, Callable[[Session, list[str]], Awaitable[None]]]] = [
    ("kubectl apply -f examples/guide-a10/", apply_guide),
    ("kubectl get qm -n demo -w", watch_all),
    ("kubectl describe qm phi35-fp8 -n demo", describe_fp8),
    ("kubectl wait --for=condition=Ready qm/phi35-eetq -n demo --timeout=10m", wait_eetq),
    (
        """kubectl patch qm phi35-eetq -n demo --type=merge -p '{"spec":{"serving":{"maxInputTokens":1536}}}'""",
        patch_spec,
    ),
    ("kubectl get qm phi35-eetq -n demo -w", watch_promotion),
    ("kubectl annotate qm phi35-eetq -n demo quantop.dev/rollback=true", annotate_rollback),
    ("kubectl get qm phi35-eetq -n demo", get_after_rollback),
    ("kubectl annotate qm phi35-eetq -n demo sandbox.quantop.dev/fault=slow", annotate_fault),
    (
        """kubectl patch qm phi35-eetq -n demo --type=merge -p '{"spec":{"serving":{"maxInputTokens":1280}}}'""",
        patch_spec,
    ),
    ("kubectl get qm phi35-eetq -n demo -w", watch_failure),
    ("kubectl get events -n demo --field-selector involvedObject.name=phi35-eetq", get_events),
]


def test_the_test_runs_exactly_the_readmes_session() -> None:
    assert readme_session() == [command for command, _ in SESSION]


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    guide = shortened(ROOT / GUIDE, tmp_path / "guide-a10")
    async with sandbox(tmp_path / "sandbox", emulator_args=["--set", "latency_scale=0.2"], resync_seconds=1) as sb:
        yield Session(sb, guide)


async def test_readme_kubectl_session(session: Session) -> None:
    for command, check in SESSION:
        args = shlex.split(command)[1:]
        try:
            await check(session, args)
        except AssertionError as exc:
            raise AssertionError(f"README step `{command}`: {exc}") from exc
