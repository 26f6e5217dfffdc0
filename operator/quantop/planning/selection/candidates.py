"""The candidates of a `method: auto` selection: pruned by the planner, ordered by expected value, the baseline first.

Each candidate is the user's spec with one method and one GPU substituted (`candidate_spec`); its
revision is that spec's revision hash, which the caller computes (resources owns the hash; planning
may not import it) and passes in as `revision_of`. A user who later writes the winning method by hand
gets the same revision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from quantop.api import GpuProfile, QuantizationMethod, QuantizedModelSpec, Reason, SpecError, parse_spec
from quantop.api.selection import CandidateRow, CandidateState
from quantop.api.spec import VLLM_METHODS, AnyMethod, AnyObjective, Engine

from ..advice import GUIDE_RELATIVE_SPEED
from ..catalog import PlanningError, resolve_gpu
from ..compatibility import Level
from ..models import ModelInfo
from ..plan import MethodAssessment, plan_spec
from .objective import DEFAULT_OBJECTIVE, expected_key, matrix_rank

RevisionOf = Callable[[QuantizedModelSpec], str]
_GUIDE_SPEED = {m.value: speed for m, speed in GUIDE_RELATIVE_SPEED.items()}
#: Spec fields that change neither what serves nor how it is judged: editing them never reselects. The budget
#: (spec.selection) applies to the running selection as it is edited, so raising it mid-way loses nothing.
_NOT_SELECTION = ("promotion", "monitoring", "selection")


def objective_of(spec: QuantizedModelSpec) -> AnyObjective:
    return spec.quantization.objective or DEFAULT_OBJECTIVE


def default_methods(engine: Engine) -> list[AnyMethod]:
    """Every method of the engine; the planner then keeps those it marks supported or with caveats."""
    return list(VLLM_METHODS) if engine == Engine.VLLM else list(QuantizationMethod)


def candidate_spec(
    spec: QuantizedModelSpec, method: AnyMethod | str, gpu_type: str, gpu_count: int
) -> QuantizedModelSpec:
    """The spec with one method and GPU in place of `auto`; SpecError when that pair is invalid (exl2 on 2 GPUs)."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    quantization = {k: v for k, v in data["quantization"].items() if k not in ("candidates", "objective")}
    data["quantization"] = {**quantization, "method": str(method)}
    data["gpu"] = {"type": gpu_type, "count": gpu_count}
    data.pop("selection", None)
    return parse_spec(data)


def fingerprint(spec: QuantizedModelSpec) -> str:
    """A hash of everything the selection depends on; replicas, promotion, monitoring and the budget are left out."""
    data = spec.model_dump(mode="json", by_alias=True, exclude=set(_NOT_SELECTION))
    data["serving"].pop("replicas", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class _Planned:
    row: CandidateRow
    speed: float | None = None
    bits: float = 16.0
    price: float = 0.0
    caveats: bool = False


def _gpus(spec: QuantizedModelSpec) -> list[tuple[str, int]]:
    pairs = [(spec.gpu.type, spec.gpu.count)] + [(g.type, g.count) for g in spec.gpu.candidates or []]
    return list(dict.fromkeys(pairs))


def unknown_gpu(spec: QuantizedModelSpec, profiles: Mapping[str, GpuProfile]) -> str | None:
    unknown = [t for t, _ in _gpus(spec) if t not in profiles]
    if not unknown:
        return None
    known = ", ".join(sorted(profiles)) or "(none configured)"
    return (
        f"gpu.candidates names {unknown[0]!r}, which is not a GPU profile of this operator: use one of {known}, "
        "or add it to the Helm value gpuProfiles"
    )


def _assess(
    spec: QuantizedModelSpec, method: AnyMethod, gpu: tuple[str, int], profile: GpuProfile, model: ModelInfo
) -> tuple[QuantizedModelSpec | None, MethodAssessment | None, str]:
    """The candidate's spec and the planner's verdict, or why there is none."""
    try:
        cspec = candidate_spec(spec, method, *gpu)
        return cspec, plan_spec(cspec, profile, model), ""
    except SpecError as exc:
        return None, None, f"{Reason.INVALID_SPEC}: {exc}"
    except PlanningError as exc:
        return None, None, f"{exc.reason}: {exc.message}"


def _plan_one(
    spec: QuantizedModelSpec,
    method: AnyMethod,
    gpu: tuple[str, int],
    profile: GpuProfile,
    model: ModelInfo,
    revision_of: RevisionOf,
) -> _Planned:
    cspec, a, why = _assess(spec, method, gpu, profile, model)
    row = CandidateRow(method=method.value, gpu=gpu[0], gpu_count=gpu[1], state=CandidateState.REFUSED, reason=why)
    if cspec is None or a is None:
        return _Planned(row)
    price = resolve_gpu(profile).price_per_hour
    row = row.model_copy(update={"weights_gi_b": a.weights_gib, "reason": f"{a.reason}: {a.message}"})
    if a.level == Level.NO:
        return _Planned(row)
    usable = row.model_copy(update={"state": CandidateState.PENDING, "revision": revision_of(cspec)})
    # vLLM plans carry no speed: the guide's TGI figure for the same method name orders them.
    speed = a.relative_speed or _GUIDE_SPEED.get(method.value)
    return _Planned(usable, speed, a.bits, price, a.level == Level.WARN)


def _baseline_needed(spec: QuantizedModelSpec) -> bool:
    """The unquantized configuration is the baseline unless the spec names one (a number or a model)."""
    b = spec.validation.baseline
    return b.accuracy is None and b.model_ref is None


def plan_rows(
    spec: QuantizedModelSpec, profiles: Mapping[str, GpuProfile], model: ModelInfo, revision_of: RevisionOf
) -> list[CandidateRow]:
    """Every candidate's row: the baseline first, then runnable ones by expected value, refused ones last."""
    explicit = spec.quantization.candidates
    methods = list(explicit) if explicit else default_methods(spec.engine)
    home = (spec.gpu.type, spec.gpu.count)
    only_baseline = _baseline_needed(spec) and QuantizationMethod.NONE not in methods
    if only_baseline:
        methods.append(QuantizationMethod.NONE)  # measured as the baseline, not a candidate to win
    planned: list[_Planned] = []
    for gpu in _gpus(spec):
        for method in methods:
            if method == QuantizationMethod.NONE and gpu != home and (only_baseline or not explicit):
                continue  # the unquantized default is measured once, on spec.gpu, unless listed explicitly
            p = _plan_one(spec, method, gpu, profiles[gpu[0]], model, revision_of)
            if not explicit and p.row.state == CandidateState.REFUSED and _prequantized_refusal(p.row):
                continue  # a default list does not report formats the checkpoint is not in
            planned.append(p)
    return _ordered(spec, planned, home)


def _prequantized_refusal(row: CandidateRow) -> bool:
    return row.reason.startswith(str(Reason.REQUIRES_PREQUANTIZED_MODEL))


def _ordered(spec: QuantizedModelSpec, planned: list[_Planned], home: tuple[str, int]) -> list[CandidateRow]:
    objective = objective_of(spec)
    base = next(
        (
            p
            for p in planned
            if _baseline_needed(spec)
            and p.row.method == QuantizationMethod.NONE.value
            and (p.row.gpu, p.row.gpu_count) == home
            and p.row.state == CandidateState.PENDING
        ),
        None,
    )
    runnable = [p for p in planned if p.row.state == CandidateState.PENDING and p is not base]
    runnable.sort(
        key=lambda p: (
            expected_key(objective, p.row.gpu_count, p.speed, p.bits, p.price),
            p.caveats,  # as the planner's recommendation: fully supported before caveats
            matrix_rank(objective, p.row.method),
            p.price * p.row.gpu_count,
            p.row.label,
        )
    )
    refused = [p.row for p in planned if p.row.state == CandidateState.REFUSED]
    first = [base.row.model_copy(update={"baseline": True})] if base else []
    return first + [p.row for p in runnable] + refused


def row_spec(spec: QuantizedModelSpec, row: CandidateRow) -> QuantizedModelSpec:
    """The spec a row's revision serves: what the controller builds the candidate's Deployment and Job from."""
    return candidate_spec(spec, row.method, row.gpu, row.gpu_count)


def eligible_to_win(spec: QuantizedModelSpec, row: CandidateRow) -> bool:
    """A baseline added only to be measured (none not among explicit candidates) never wins."""
    explicit = spec.quantization.candidates
    return not (row.baseline and explicit and QuantizationMethod.NONE not in explicit)
