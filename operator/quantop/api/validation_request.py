"""What a validation run must check: the one contract between the operator's Job and `quantop validate`.

The operator builds a ValidationRequest from a QuantizedModel's spec (resources/job.py) and writes it
into the Job as `quantop validate` flags with :meth:`ValidationRequest.to_args`; `quantop validate`
builds its flags from the same fields (validation/request_cli.py) and parses them back into an equal
request. Each field names its flag once, in its ``Flag`` metadata, so the two sides cannot drift; the
defaults are the QuantizedModel spec's own defaults wherever the spec has the setting.

Nothing here is secret: the request holds URLs, numbers and names, never a token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from .durations import DurationBounds, parse_duration
from .spec import Accuracy, AccuracyMetric, Baseline, LoadTest, Slo, Validation

#: Streams one locust process drives without adding latency of its own (bench/bench_validate.py:
#: 1000 streams at 1.2 ms scheduling delay p99 on a 2-core machine).
STREAMS_PER_WORKER = 1000


def load_workers(users: int, workers: int) -> int:
    """Locust processes for the load: the number asked for, or one per STREAMS_PER_WORKER users (0 = auto)."""
    return workers or max(1, math.ceil(users / STREAMS_PER_WORKER))


#: What one accuracy request typically takes: a ~160-token SQL answer from Phi-3.5-mini on an A10 at
#: concurrency 8 (the emulator's a10-eetq calibration: 150 ms prefill + 160 x ~19 ms per step = 3.2 s;
#: issue 16 saw 95 s for 200 samples at concurrency 8, 3.8 s a round). Used only for time estimates.
TYPICAL_ACCURACY_REQUEST_SECONDS = 4.0


@dataclass(frozen=True)
class Flag:
    """Field metadata: the `quantop validate` flag that sets this field, and what its absence means."""

    name: str
    help: str
    unset: str = "unset"
    metavar: str | None = None


def _spec_default(model: type[BaseModel], field: str) -> Any:
    """A default taken from the QuantizedModel spec, so the CLI and the operator share one value."""
    return model.model_fields[field].get_default(call_default_factory=True)


def _fraction(value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"is a fraction between 0 and 1, got {value:g}")
    return value


Fraction = Annotated[float, AfterValidator(_fraction)]


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
        raise ValueError(f"{value!r} is not a URL: use one such as http://127.0.0.1:3000")
    return value


class _Request(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class LoadRequest(_Request):
    """The load test (locust)."""

    users: Annotated[
        int, Field(ge=0, le=100_000), Flag("--users", "concurrent streaming users (0: skip the load test)")
    ] = _spec_default(LoadTest, "users")
    duration: Annotated[
        str,
        DurationBounds(0, 24 * 3600),
        Flag("--duration", "measured window after warm-up, at most: the load stops once its verdict is certain"),
    ] = _spec_default(LoadTest, "duration")
    warmup: Annotated[str, DurationBounds(0, 3600), Flag("--warmup", "load excluded from the figures")] = _spec_default(
        LoadTest, "warmup"
    )
    max_new_tokens: Annotated[
        int, Field(ge=1, le=1_048_576), Flag("--max-new-tokens", "max_new_tokens per request")
    ] = _spec_default(LoadTest, "max_new_tokens")
    workers: Annotated[
        int, Field(ge=0, le=64), Flag("--workers", "locust worker processes (0: one per 1000 users; >1: distributed)")
    ] = _spec_default(LoadTest, "workers")

    @property
    def duration_seconds(self) -> float:
        return parse_duration(self.duration)

    @property
    def warmup_seconds(self) -> float:
        return parse_duration(self.warmup)

    @property
    def processes(self) -> int:
        """Locust processes the run will use (workers resolved from users when 0)."""
        return load_workers(self.users, self.workers)


class AccuracyRequest(_Request):
    """The accuracy evaluation on a held-out set."""

    dataset: Annotated[
        str, Field(min_length=1, max_length=4096), Flag("--dataset", "builtin:NAME, a .jsonl/.json/.csv path or URL")
    ] = "builtin:" + str(_spec_default(Accuracy, "dataset").builtin)
    field_map: Annotated[
        dict[str, str],
        Field(max_length=64),
        Flag(
            "--field-map",
            "quantop field = dataset column, repeatable, e.g. sql_prompt=question",
            "none",
            "FIELD=COLUMN",
        ),
    ] = Field(default_factory=dict)
    metric: Annotated[AccuracyMetric, Flag("--metric", "how an answer is scored")] = _spec_default(Accuracy, "metric")
    samples: Annotated[
        int,
        Field(ge=0, le=100_000),
        Flag("--samples", "examples scored (0: skip accuracy); paired, at most: it stops once certain"),
    ] = _spec_default(Accuracy, "samples")
    concurrency: Annotated[
        int, Field(ge=1, le=1024), Flag("--accuracy-concurrency", "concurrent accuracy requests")
    ] = _spec_default(Accuracy, "concurrency")
    max_new_tokens: Annotated[
        int, Field(ge=1, le=1_048_576), Flag("--accuracy-max-new-tokens", "max_new_tokens of an accuracy request")
    ] = 256
    seed: Annotated[int, Field(ge=0), Flag("--seed", "which examples are drawn")] = 0

    @model_validator(mode="after")
    def _field_map_names(self) -> AccuracyRequest:
        for key, column in self.field_map.items():
            if not key or not column:
                raise ValueError(f"field map {key!r}={column!r}: use QUANTOP_FIELD=COLUMN, e.g. sql_prompt=question")
        return self


class Gates(_Request):
    """Thresholds a run must meet; an unset one is not gated."""

    p95_ms: Annotated[float | None, Field(gt=0), Flag("--slo-p95-ms", "max p95 end-to-end latency", "not gated")] = None
    p99_ms: Annotated[float | None, Field(gt=0), Flag("--slo-p99-ms", "max p99 end-to-end latency", "not gated")] = None
    ttft_p95_ms: Annotated[
        float | None, Field(gt=0), Flag("--slo-ttft-p95-ms", "max p95 time to first token", "not gated")
    ] = None
    min_rps: Annotated[float | None, Field(ge=0), Flag("--slo-min-rps", "min completed requests/s", "not gated")] = None
    max_error_rate: Annotated[Fraction, Flag("--slo-max-error-rate", "max fraction of failed requests")] = (
        _spec_default(Slo, "max_error_rate")
    )
    min_accuracy: Annotated[Fraction | None, Flag("--min-accuracy", "absolute accuracy floor", "not gated")] = None
    baseline_accuracy: Annotated[
        Fraction | None, Flag("--baseline-accuracy", "accuracy the candidate is compared with", "no baseline")
    ] = None
    max_accuracy_drop: Annotated[
        Fraction, Flag("--max-accuracy-drop", "largest allowed drop below --baseline-accuracy (absolute)")
    ] = _spec_default(Baseline, "max_accuracy_drop")
    confidence: Annotated[
        float,
        Field(gt=0.5, lt=0.999),
        Flag("--confidence", "confidence of every gate's bounds: each gate errs at most 1 - confidence"),
    ] = _spec_default(Validation, "confidence")
    baseline_outcomes: Annotated[
        str | None,
        Field(pattern=r"^(?:[0-9A-Za-z._-]{1,64}:[0-9]{1,10}:)?[01]+$", max_length=100_200),
        Flag(
            "--baseline-outcomes",
            "the baseline's per-item results in draw order (1 right, 0 wrong), for a paired accuracy test; "
            "prefixed DATASET:SEED: (the dataset version's fingerprint and the draw's seed) they are checked "
            "against this run's, and a mismatch is not paired",
            "no pairing",
            "[DATASET:SEED:]0110...",
        ),
    ] = None

    def baseline_parts(self) -> tuple[str | None, int | None, str] | None:
        """(dataset fingerprint or None, seed or None, the 0/1 string) of --baseline-outcomes, or None."""
        if self.baseline_outcomes is None:
            return None
        parts = self.baseline_outcomes.split(":")  # the pattern allows one part or three
        if len(parts) == 3:
            return parts[0], int(parts[1]), parts[2]
        return None, None, parts[0]


class CostInputs(_Request):
    """What the serving configuration costs, for USD per million tokens."""

    gpu_price_per_hour: Annotated[
        float | None, Field(ge=0, le=10_000), Flag("--gpu-price-per-hour", "USD per GPU-hour", "no cost figures")
    ] = None
    replicas: Annotated[int, Field(ge=1, le=1000), Flag("--replicas", "serving replicas behind the endpoint")] = 1
    gpu_count: Annotated[int, Field(ge=1, le=16), Flag("--gpu-count", "GPUs per replica")] = 1
    weights_gib: Annotated[
        float | None, Field(gt=0), Flag("--weights-gib", "weight memory of this configuration (planner's figure)")
    ] = None


class ToBeat(_Request):
    """A selection's figure to beat: not a gate. The load test stops once this run surely cannot beat it."""

    p95_ms: Annotated[
        float | None,
        Field(gt=0),
        Flag(
            "--to-beat-p95-ms",
            "p95 (ms) a candidate must beat: the upper bound of the best passing candidate's p95. The load stops, "
            "with no accuracy run, once this run's p95 is surely above it (same bound and error rate as the p95 gate)",
            "no early stop",
        ),
    ] = None
    label: Annotated[
        str | None,
        Field(min_length=1, max_length=128),
        Flag("--to-beat-label", "the candidate that set --to-beat-p95-ms, named in the message", "unnamed"),
    ] = None
    objective: Annotated[
        Literal["latency", "balanced"] | None,
        Flag("--to-beat-objective", "the selection's objective, for the message's words and units", "latency"),
    ] = None
    scale: Annotated[
        float | None,
        Field(gt=0),
        Flag(
            "--to-beat-scale",
            "the objective's figure per ms of this run's p95 (balanced: sqrt(weights / baseline weights) / "
            "baseline p95), for the message",
            "1",
        ),
    ] = None


class ValidationRequest(_Request):
    """One validation run: where, how much load, which accuracy, what must hold, at what price."""

    endpoint: Annotated[
        str,
        Field(max_length=2048),
        AfterValidator(_url),
        Flag("--endpoint", "TGI base URL, e.g. http://127.0.0.1:3000", "required"),
    ]
    label: Annotated[
        str, Field(min_length=1, max_length=128), Flag("--label", "configuration name in tables (e.g. the method)")
    ] = "candidate"
    revision: Annotated[str | None, Field(max_length=128), Flag("--revision", "revision the results belong to")] = None
    ready_timeout: Annotated[
        str, DurationBounds(0, 24 * 3600), Flag("--ready-timeout", "how long to wait for /health to answer 200")
    ] = "60s"
    api: Annotated[
        Literal["generate", "chat", "openai"],
        Flag(
            "--api",
            "routes: generate (TGI's /generate_stream and /generate), chat (TGI's /v1/chat/completions for the load), "
            "openai (/v1/completions for load and accuracy: vLLM, or TGI's OpenAI route)",
        ),
    ] = "generate"
    served_model: Annotated[
        str,
        Field(min_length=1, max_length=256),
        Flag("--served-model", "model name sent on the OpenAI routes (vLLM answers 404 for another)"),
    ] = "tgi"
    load: LoadRequest = Field(default_factory=LoadRequest)
    accuracy: AccuracyRequest = Field(default_factory=AccuracyRequest)
    gates: Gates = Field(default_factory=Gates)
    cost: CostInputs = Field(default_factory=CostInputs)
    to_beat: ToBeat = Field(default_factory=ToBeat)

    @model_validator(mode="after")
    def _something_to_do(self) -> ValidationRequest:
        if self.load.users == 0 and self.accuracy.samples == 0:
            raise ValueError("nothing to do: --users 0 and --samples 0")
        if self.load.users and self.load.duration_seconds <= 0:
            raise ValueError("--duration must be longer than 0s when --users > 0")
        # Baseline outcomes of another length, seed or dataset are not an input error: the run pairs what
        # it can (the common prefix of the draw) or falls back to a one-sample bound and says why.
        return self

    def estimated_seconds(self) -> float:
        """A rough duration of the run, not counting the wait for /health: an estimate, never a deadline."""
        load = self.load.warmup_seconds + self.load.duration_seconds if self.load.users else 0.0
        rounds = math.ceil(self.accuracy.samples / self.accuracy.concurrency)
        return load + rounds * TYPICAL_ACCURACY_REQUEST_SECONDS

    def to_args(self) -> list[str]:
        """The request as `quantop validate` flags: every set value, so a Job never depends on the image's defaults."""
        args: list[str] = []
        for f in request_flags():
            value = f.get(self)
            if value is None:
                continue
            if isinstance(value, dict):
                for key, column in sorted(value.items()):
                    args += [f.flag.name, f"{key}={column}"]
            else:
                args += [f.flag.name, format_value(value)]
        return args


def format_value(value: Any) -> str:
    """A field value as a flag argument; repr of a float round-trips exactly (f"{x:g}" would round it)."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


@dataclass(frozen=True)
class RequestFlag:
    """One field of the request and its flag: where it lives, its type, its default."""

    path: tuple[str, ...]  # python field names, e.g. ("load", "users")
    flag: Flag
    info: FieldInfo
    group: str  # "" for top-level fields, else the sub-model's field name

    @property
    def alias_path(self) -> tuple[str, ...]:
        return tuple(to_camel(p) for p in self.path)

    def get(self, request: ValidationRequest) -> Any:
        node: Any = request
        for part in self.path:
            node = getattr(node, part)
        return node

    def default_text(self) -> str:
        if self.info.is_required():
            return self.flag.unset
        default = self.info.get_default(call_default_factory=True)
        if default is None or default == {}:
            return self.flag.unset
        return format_value(default)


def _flags_of(model: type[BaseModel], prefix: tuple[str, ...], group: str) -> Iterator[RequestFlag]:
    for name, info in model.model_fields.items():
        flag = next((m for m in info.metadata if isinstance(m, Flag)), None)
        if flag is not None:
            yield RequestFlag((*prefix, name), flag, info, group)
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from _flags_of(info.annotation, (*prefix, name), name)


def request_flags() -> list[RequestFlag]:
    """Every flag of the request, in declaration order: the one table both sides are generated from."""
    return list(_flags_of(ValidationRequest, (), ""))
