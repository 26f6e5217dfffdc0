"""`method: auto`: the spec's candidates, objective and budget, and `status.selection`, the guide's table per model.

Kept apart from spec.py and status.py (which import this module) so both can use it without a cycle;
the models repeat the API's camelCase config for that reason.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

#: `spec.quantization.method: auto` lets quantop choose among candidates.
AUTO = "auto"
#: GPUs per candidate revision is spec.gpu.count; candidates per selection are bounded for the CEL cost budget.
MAX_CANDIDATES = 16


class MethodChoice(StrEnum):
    """A method value that is not a TGI or vLLM method: let quantop choose."""

    AUTO = AUTO


class SelectionObjective(StrEnum):
    """Objectives of a selection that the guide's decision matrix (Objective) has no column for."""

    THROUGHPUT = "throughput"
    BALANCED = "balanced"


class _Spec(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class GpuCandidate(_Spec):
    """A GPU profile (and count) a selection may try besides spec.gpu."""

    type: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="GPU profile name from the operator's configuration (Helm gpuProfiles), e.g. l4.",
    )
    count: int = Field(default=1, ge=1, le=16, description="GPUs per replica on that profile.")


class SelectionBudget(_Spec):
    """How much GPU a `method: auto` selection may use."""

    max_parallel_candidates: int = Field(
        default=1,
        ge=1,
        le=MAX_CANDIDATES,
        description="Candidates validated at the same time; 1 (the default) because GPUs are scarce.",
    )
    max_gpu_minutes: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description=(
            "GPU-minutes the whole selection may spend (GPUs x minutes each candidate revision ran); "
            "candidates that would exceed it are skipped and the best so far wins. Unlimited when unset."
        ),
    )


class _Status(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class CandidateState(StrEnum):
    """Where one candidate of a selection stands."""

    #: The planner refused it (unsupported on the GPU, needs a pre-quantized checkpoint, does not fit): never deployed.
    REFUSED = "Refused"
    PENDING = "Pending"
    RUNNING = "Running"
    PASSED = "Passed"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"
    #: Stopped or not started because its evidence shows it can no longer win on the objective.
    CANNOT_WIN = "CannotWin"
    #: Not started: the GPU-minute budget could not cover it.
    OVER_BUDGET = "OverBudget"

    @property
    def finished(self) -> bool:
        return self not in (CandidateState.PENDING, CandidateState.RUNNING)


class SelectionPhase(StrEnum):
    RUNNING = "Running"
    #: A winner is chosen (and promoted as a single-method revision would be).
    CHOSEN = "Chosen"
    NO_CANDIDATE_PASSED = "NoCandidatePassed"
    #: Nothing can run: every candidate refused, an unknown GPU, a budget below one candidate.
    REFUSED = "Refused"


class CandidateRow(_Status):
    """One row of the guide's table: a method on a GPU, with what was measured and its verdict."""

    method: str = Field(description="Quantization method of the candidate.")
    gpu: str = Field(description="GPU profile of the candidate.")
    gpu_count: int = Field(default=1, description="GPUs per replica.")
    revision: str | None = Field(default=None, description="Revision hash of the spec with this method and GPU.")
    baseline: bool = Field(default=False, description="This row is the baseline the others are compared with.")
    state: CandidateState = Field(description="Refused, Pending, Running, Passed, Failed, Inconclusive, ...")
    reason: str = Field(default="", description="Why it was refused, stopped, or what its verdict rests on.")
    p50_ms: float | None = Field(default=None, description="Median end-to-end latency, ms.")
    p95_ms: float | None = Field(default=None, description="p95 end-to-end latency, ms.")
    p95_low_ms: float | None = Field(default=None, description="p95 lower confidence bound, ms.")
    p95_high_ms: float | None = Field(default=None, description="p95 upper confidence bound, ms.")
    p98_ms: float | None = Field(default=None, description="p98 end-to-end latency, ms.")
    ttft_p95_ms: float | None = Field(default=None, description="p95 time to first token, ms.")
    output_tokens_per_second: float | None = Field(default=None, description="Generated tokens per second.")
    accuracy: float | None = Field(default=None, description="Accuracy on the held-out set (0..1).")
    accuracy_low: float | None = Field(default=None, description="Accuracy confidence interval, low end.")
    accuracy_high: float | None = Field(default=None, description="Accuracy confidence interval, high end.")
    accuracy_drop: float | None = Field(
        default=None, description="The accuracyDrop gate's estimate: baseline accuracy minus this one (0..1)."
    )
    accuracy_drop_low: float | None = Field(default=None, description="Its lower bound (at validation.confidence).")
    accuracy_drop_high: float | None = Field(default=None, description="Its upper bound (at validation.confidence).")
    accuracy_drop_paired: bool | None = Field(
        default=None, description="The drop's bounds pair the baseline's items (false: one-sample vs a number)."
    )
    weights_gi_b: float | None = Field(default=None, alias="weightsGiB", description="Planner's weight memory, GiB.")
    size_reduction: float | None = Field(default=None, description="Baseline weight size / this weight size.")
    speedup: float | None = Field(default=None, description="Baseline median latency / this median latency.")
    cost_per_million_tokens: float | None = Field(default=None, description="USD per 1M output tokens.")
    started_at: str | None = Field(default=None, description="When its revision was created (RFC 3339).")
    finished_at: str | None = Field(default=None, description="When its verdict arrived (RFC 3339).")
    gpu_minutes: float | None = Field(default=None, description="GPU-minutes it used (GPUs x minutes running).")

    @property
    def label(self) -> str:
        """`eetq@a10`, `fp8@l4x2`: one name per (method, GPU, count)."""
        count = f"x{self.gpu_count}" if self.gpu_count > 1 else ""
        return f"{self.method}@{self.gpu}{count}"


class SelectionStatus(_Status):
    """A `method: auto` selection: every candidate's row, the objective, the winner and why, GPU-minutes spent."""

    fingerprint: str = Field(description="Hash of the spec fields the selection depends on; a change reselects.")
    objective: str = Field(description="latency, throughput, cost, memory, balanced or edge.")
    phase: SelectionPhase = Field(description="Running, Chosen, NoCandidatePassed or Refused.")
    candidates: list[CandidateRow] = Field(default_factory=list, description="One row per candidate, in run order.")
    winner: str | None = Field(default=None, description="The chosen candidate, e.g. eetq@a10.")
    winner_revision: str | None = Field(default=None, description="Revision of the chosen candidate.")
    reason: str = Field(default="", description="Why the winner won, or why none did, with the fix.")
    gpu_minutes: float = Field(default=0.0, description="GPU-minutes the selection has used so far.")
    max_gpu_minutes: float | None = Field(default=None, description="The budget, when the spec sets one.")
    started_at: str | None = Field(default=None, description="When the selection began (RFC 3339).")
    finished_at: str | None = Field(default=None, description="When it chose or gave up (RFC 3339).")

    def served_method(self, spec_method: str) -> str:
        """The method that serves: the winner's for `method: auto` once chosen, else the spec's."""
        row = next((r for r in self.candidates if r.label == self.winner), None) if self.winner else None
        return row.method if row is not None else spec_method

    def choice(self) -> str:
        """The winner and why, naming the winner once (`eetq@a10: lowest p95 ...`), or the reason alone."""
        if self.winner is None or self.reason.startswith(f"{self.winner}:"):
            return self.reason
        return f"{self.winner}: {self.reason}" if self.reason else self.winner
