"""Moving a served QuantizedModel from TGI to vLLM: one spec patch, then the new revision's verdict.

The patch is what a user types (`kubectl patch qm NAME --type merge -p '{"spec":{"engine":"vllm"}}'`),
plus vLLM's name for a TGI method vLLM lacks. The new revision is validated like any other change;
the stable TGI revision serves until it passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantop.api import QuantizedModelSpec
from quantop.resources.names import revision_of

from .runner import Sandbox

QM_API, QM_PLURAL = "quantop.dev/v1alpha1", "quantizedmodels"
#: TGI methods vLLM has no namesake for, and the vLLM method that does the same job (docs/engines.md).
VLLM_EQUIVALENT = {
    "eetq": "fp8",
    "bitsandbytes": "fp8",
    "bitsandbytes-nf4": "bitsandbytes",
    "bitsandbytes-fp4": "bitsandbytes",
}
#: Verdicts that end a revision's validation without a promotion.
NOT_PROMOTED = ("Failed", "Error", "Abandoned")


@dataclass(frozen=True)
class Migration:
    before: str | None
    after: str
    promoted: bool
    #: The latest status history row of each revision: the comparison of the two engines.
    rows: list[dict[str, Any]]


def vllm_patch(spec: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that moves `spec` to vLLM, naming vLLM's method where TGI's does not exist there."""
    method = spec["quantization"]["method"]
    patch: dict[str, Any] = {"engine": "vllm"}
    if method in VLLM_EQUIVALENT:
        patch["quantization"] = {"method": VLLM_EQUIVALENT[method]}
    return {"spec": patch}


async def migrate_to_vllm(sb: Sandbox, namespace: str, name: str, timeout: float = 600) -> Migration:
    """Patch the engine, then wait until the vLLM revision is promoted or has ended without it."""
    obj = await sb.cluster.qm(namespace, name)
    assert obj is not None, f"{namespace}/{name} does not exist"
    before = (obj.get("status") or {}).get("stableRevision")
    patched = await sb.cluster.patch(QM_API, QM_PLURAL, namespace, name, vllm_patch(obj["spec"]))
    after = revision_of(QuantizedModelSpec.model_validate(patched["spec"]))

    async def status() -> dict[str, Any]:
        current = await sb.cluster.qm(namespace, name)
        return dict((current or {}).get("status") or {})

    def settled(st: dict[str, Any]) -> bool:
        ended = any(h["revision"] == after and h["verdict"] in NOT_PROMOTED for h in st.get("history", []))
        return st.get("stableRevision") == after or ended

    st: dict[str, Any] = await sb.cluster.wait_for(status, settled, timeout)
    # History has a row per verdict (Passed, then Promoted): the comparison shows each revision's latest.
    latest = {h["revision"]: h for h in st.get("history", []) if h["revision"] in (before, after)}
    return Migration(before, after, st.get("stableRevision") == after, list(latest.values()))
