"""The QuantizedModel spec: what a platform team writes.

Every field has a description (it becomes `kubectl explain` text through the generated CRD),
a default where one is sensible, and constraints. Cross-field rules are written twice on
purpose: as pydantic validators (the operator and `quantop render` report them) and as CEL
`x-kubernetes-validations` (the API server rejects them before the operator sees them); the
CRD tests evaluate both on the same good and bad objects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel

from .durations import DURATION_PATTERN, DurationBounds
from .guard import LONG_WINDOW, MAX_GUARD_SECONDS, guard_duration_problem
from .selection import AUTO, MAX_CANDIDATES, GpuCandidate, MethodChoice, SelectionBudget, SelectionObjective

#: TGI's final release: Hugging Face put TGI in maintenance mode on 2025-12-11 and tagged 3.3.7 last.
DEFAULT_TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.7"
#: vLLM's OpenAI-compatible server image, release v0.30.0 (github.com/vllm-project/vllm, tag v0.30.0).
DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.30.0"


class Engine(StrEnum):
    """The serving engine behind a QuantizedModel."""

    TGI = "tgi"
    VLLM = "vllm"


DEFAULT_IMAGES: dict[Engine, str] = {Engine.TGI: DEFAULT_TGI_IMAGE, Engine.VLLM: DEFAULT_VLLM_IMAGE}


class QuantizationMethod(StrEnum):
    """Every value of TGI's `--quantize`, plus `none` for the unquantized baseline."""

    NONE = "none"
    BITSANDBYTES = "bitsandbytes"
    BITSANDBYTES_NF4 = "bitsandbytes-nf4"
    BITSANDBYTES_FP4 = "bitsandbytes-fp4"
    GPTQ = "gptq"
    AWQ = "awq"
    EETQ = "eetq"
    FP8 = "fp8"
    MARLIN = "marlin"
    EXL2 = "exl2"
    COMPRESSED_TENSORS = "compressed-tensors"


#: Methods that need a checkpoint already quantized in that format (TGI's launcher help).
PREQUANTIZED_METHODS = frozenset(
    {
        QuantizationMethod.GPTQ,
        QuantizationMethod.AWQ,
        QuantizationMethod.MARLIN,
        QuantizationMethod.EXL2,
        QuantizationMethod.COMPRESSED_TENSORS,
    }
)


class VllmQuantization(StrEnum):
    """vLLM `--quantization` values without a TGI namesake (vllm/model_executor/layers/quantization/__init__.py).

    The shared names (fp8, awq, gptq, bitsandbytes, compressed-tensors) stay QuantizationMethod values.
    """

    AWQ_MARLIN = "awq_marlin"
    GPTQ_MARLIN = "gptq_marlin"


#: Every method name a spec may carry; which ones an engine accepts is checked per engine below.
AnyMethod = QuantizationMethod | VllmQuantization
#: vLLM `--quantization` values quantop accepts. vLLM dropped its plain `marlin` method; its
#: `bitsandbytes` quantizes in flight to 4 bit (BitsAndBytesConfig defaults to load_in_4bit).
VLLM_METHODS: tuple[AnyMethod, ...] = (
    QuantizationMethod.NONE,
    QuantizationMethod.FP8,
    QuantizationMethod.AWQ,
    VllmQuantization.AWQ_MARLIN,
    QuantizationMethod.GPTQ,
    VllmQuantization.GPTQ_MARLIN,
    QuantizationMethod.BITSANDBYTES,
    QuantizationMethod.COMPRESSED_TENSORS,
)
#: What a TGI method name means for vLLM when vLLM has no method of that name: the name to use instead.
VLLM_INSTEAD_OF_TGI: dict[str, str] = {
    "eetq": "engine vllm has no eetq: use fp8 (8-bit weights quantized at load, compute capability 8.0+)",
    "bitsandbytes-nf4": "engine vllm: use bitsandbytes, which vLLM quantizes in flight to 4 bit",
    "bitsandbytes-fp4": "engine vllm: use bitsandbytes, which vLLM quantizes in flight to 4 bit",
    "exl2": "engine vllm cannot load exl2 checkpoints: use a GPTQ or AWQ checkpoint with gptq_marlin or awq_marlin",
    "marlin": "engine vllm has no marlin method: use gptq_marlin (GPTQ checkpoint) or awq_marlin (AWQ checkpoint)",
}
#: And the other way round: vLLM-only names refused with engine tgi.
TGI_INSTEAD_OF_VLLM: dict[str, str] = {
    "awq_marlin": "awq_marlin is vLLM's name: with engine tgi use awq (TGI picks its Marlin kernels itself)",
    "gptq_marlin": "gptq_marlin is vLLM's name: with engine tgi use gptq (TGI picks its Marlin kernels itself)",
}


class KvCacheDtype(StrEnum):
    """vLLM `--kv-cache-dtype` (vllm/config/cache.py CacheDType); fp8 halves the KV cache."""

    AUTO = "auto"
    FP8 = "fp8"
    FP8_E4M3 = "fp8_e4m3"
    FP8_E5M2 = "fp8_e5m2"


class Dtype(StrEnum):
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


class Objective(StrEnum):
    """What a recommendation optimises for (the guide's decision matrix)."""

    LATENCY = "latency"
    MEMORY = "memory"
    COST = "cost"
    EDGE = "edge"


#: What a `method: auto` selection optimises for: the decision matrix's columns plus throughput and balanced.
AnyObjective = Objective | SelectionObjective


class AccuracyMetric(StrEnum):
    EXECUTION_ACCURACY = "execution-accuracy"
    EXACT_MATCH = "exact-match"
    EXACT = "exact"
    CONTAINS = "contains"
    REGEX = "regex"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", use_enum_values=False)

    def to_k8s(self) -> dict[str, Any]:
        """The camelCase dict as it appears in the API, without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _with_cel(*rules: dict[str, str]) -> ConfigDict:
    """The models' common config plus CEL rules the API server enforces (pydantic repeats them in validators)."""
    return ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        json_schema_extra={"x-kubernetes-validations": list(rules)},  # type: ignore[arg-type]
    )


K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"


class SecretKeyRef(_Model):
    """A key in a Secret in the QuantizedModel's namespace. The value is never read by quantop."""

    name: str = Field(min_length=1, max_length=253, pattern=K8S_NAME, description="Name of the Secret.")
    key: str = Field(
        default="token",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY,
        description="Key within the Secret.",
    )


class ModelArchitecture(_Model):
    """Architecture figures that size weights and KV cache. Overrides the built-in table and config.json."""

    parameters_billions: float = Field(gt=0, le=2000, description="Parameter count in billions, e.g. 3.82.")
    num_layers: int = Field(gt=0, le=1000, description="Transformer layers (config.json num_hidden_layers).")
    num_key_value_heads: int = Field(gt=0, le=1024, description="KV heads (config.json num_key_value_heads).")
    head_dim: int = Field(gt=0, le=4096, description="Dimension of one attention head.")


class ModelSource(_Model):
    """The Hugging Face model TGI serves."""

    id: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$",
        description="Hugging Face model id (TGI --model-id), e.g. microsoft/Phi-3.5-mini-instruct.",
    )
    revision: str = Field(
        default="main",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._/-]+$",
        description="Branch, tag or commit of the model repository (TGI --revision).",
    )
    token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding a Hugging Face token, passed to TGI as HF_TOKEN through secretKeyRef.",
    )
    architecture: ModelArchitecture | None = Field(
        default=None,
        description="Architecture figures for memory planning when the model is not in quantop's table.",
    )
    quantized_format: QuantizationMethod | None = Field(
        default=None,
        description=(
            "Format the checkpoint is already quantized in (gptq, awq, marlin, exl2, compressed-tensors). "
            "Needed for those methods when quantop's model table does not know the repository."
        ),
    )


_METHOD_VALUES = [m.value for m in (*QuantizationMethod, *VllmQuantization)]


class Quantization(_Model):
    """How the engine quantizes the model at load time."""

    model_config = _with_cel(
        {
            "rule": "!has(self.candidates) || self.candidates.all(c, self.candidates.filter(x, x == c).size() == 1)",
            "message": "quantization.candidates lists a method twice: list each method once",
        }
    )

    method: Annotated[
        AnyMethod | MethodChoice,
        # One flat enum: a union of two enums would be anyOf, which a structural CRD schema forbids.
        WithJsonSchema({"type": "string", "enum": [*_METHOD_VALUES, AUTO]}),
    ] = Field(
        description=(
            "TGI --quantize value, or vLLM --quantization value with engine vllm (fp8, awq, awq_marlin, gptq, "
            "gptq_marlin, bitsandbytes, compressed-tensors); `none` serves the unquantized model (the usual baseline); "
            "`auto` validates candidates and promotes the best for quantization.objective (docs/selection.md)."
        )
    )
    candidates: (
        Annotated[
            list[AnyMethod],
            WithJsonSchema(
                {
                    "type": "array",
                    "items": {"type": "string", "enum": _METHOD_VALUES},
                    "minItems": 1,
                    "maxItems": MAX_CANDIDATES,
                }
            ),
        ]
        | None
    ) = Field(
        default=None,
        min_length=1,
        max_length=MAX_CANDIDATES,
        description=(
            "Methods a `method: auto` selection may try; unset: every method the planner marks supported or "
            "with caveats on the GPU that fits (pre-quantized formats only when the checkpoint is one)."
        ),
    )
    objective: (
        Annotated[
            AnyObjective,
            WithJsonSchema({"type": "string", "enum": [o.value for o in (*Objective, *SelectionObjective)]}),
        ]
        | None
    ) = Field(
        default=None,
        description=(
            "What a `method: auto` selection optimises among candidates that pass every gate: latency (lowest p95), "
            "throughput (most tokens/s), cost (lowest $ per 1M tokens), memory (smallest weights), edge (smallest "
            "weights, 4-bit first) or balanced (p95 x sqrt(weights), both vs the baseline); balanced when unset."
        ),
    )
    dtype: Dtype | None = Field(
        default=None, description="TGI --dtype for unquantized layers; TGI picks one when unset."
    )


class Gpu(_Model):
    """The GPU each replica runs on."""

    model_config = _with_cel(
        {
            "rule": "!has(self.candidates) || self.candidates.all(c, self.candidates.filter(x, x.type == c.type "
            "&& (has(x.count) ? x.count : 1) == (has(c.count) ? c.count : 1)).size() == 1)",
            "message": "gpu.candidates lists a GPU type and count twice: list each once",
        }
    )

    type: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="GPU profile name from the operator's configuration (Helm gpuProfiles), e.g. a10, h100.",
    )
    count: int = Field(default=1, ge=1, le=16, description="GPUs per replica; >1 shards the model (TGI --num-shard).")
    candidates: list[GpuCandidate] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CANDIDATES,
        description=(
            "Other GPU profiles (and counts) a `method: auto` selection tries besides gpu.type, so the cheapest "
            "hardware that meets the SLO can win; the baseline runs on gpu.type."
        ),
    )


class Serving(_Model):
    """The serving Deployment (TGI or vLLM)."""

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description=(
            f"Serving container image; unset means the engine's pinned release ({DEFAULT_TGI_IMAGE} for tgi, "
            f"{DEFAULT_VLLM_IMAGE} for vllm)."
        ),
    )
    replicas: int = Field(default=1, ge=0, le=1000, description="Serving replicas of the promoted revision.")
    max_input_tokens: int = Field(default=1024, ge=1, le=1_048_576, description="TGI --max-input-tokens.")
    max_total_tokens: int = Field(
        default=2048, ge=2, le=1_048_576, description="TGI --max-total-tokens; must exceed maxInputTokens."
    )
    max_concurrent_requests: int = Field(
        default=128, ge=1, le=100_000, description="TGI --max-concurrent-requests; beyond it TGI answers 429."
    )
    max_batch_prefill_tokens: int | None = Field(
        default=None,
        ge=1,
        le=1_048_576,
        description="TGI --max-batch-prefill-tokens; TGI's default when unset.",
    )
    max_batch_total_tokens: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description=(
            "TGI --max-batch-total-tokens: tokens of KV cache across a batch. The planner reserves this much "
            "KV cache; when unset it reserves maxTotalTokens x 4 sequences and TGI sizes the rest from free memory."
        ),
    )
    shm_size: str = Field(
        default="1Gi",
        pattern=r"^[0-9]+(Mi|Gi)$",
        description="Size of the /dev/shm memory volume (NCCL needs it when sharding).",
    )
    startup_timeout: Annotated[
        str,
        Field(description="How long a candidate may take to become Available (download + load)."),
        DurationBounds(60, 6 * 3600),
    ] = "30m"


class LoadTest(_Model):
    """Load applied to a candidate before promotion."""

    users: int = Field(default=100, ge=1, le=10_000, description="Concurrent simulated users (streams).")
    duration: Annotated[
        str,
        Field(
            description="Longest measured load, after warm-up: the load stops earlier once every latency, error and throughput gate is decided."
        ),
        DurationBounds(5, 6 * 3600),
    ] = "5m"
    warmup: Annotated[str, Field(description="Warm-up excluded from the measurement."), DurationBounds(0, 3600)] = "10s"
    max_new_tokens: int = Field(default=128, ge=1, le=1_048_576, description="max_new_tokens of each request.")
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "Locust worker processes in the validation pod (locust's distributed mode); "
            "0 sizes them from users, one per 1000 streams (see docs/validation.md)."
        ),
    )


class ConfigMapKeyRef(_Model):
    name: str = Field(min_length=1, max_length=253, pattern=K8S_NAME, description="ConfigMap name.")
    key: str = Field(
        default="dataset.jsonl",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY,
        description="Key holding the data.",
    )


class Dataset(_Model):
    """Held-out evaluation set: the built-in text-to-SQL set, a ConfigMap, or a URL (JSONL or CSV)."""

    model_config = _with_cel(
        {
            "rule": "(has(self.builtin) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) + (has(self.url) ? 1 : 0) == 1",
            "message": "dataset needs exactly one of builtin, configMapRef or url",
        }
    )

    builtin: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9-]+$",
        description="Name of a dataset shipped with quantop: `text-to-sql` (synthetic, gretelai field names).",
    )
    config_map_ref: ConfigMapKeyRef | None = Field(default=None, description="ConfigMap key holding JSONL or CSV.")
    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        max_length=2048,
        description="HTTP(S) URL of a JSONL or CSV file.",
    )
    field_map: dict[str, str] = Field(
        default_factory=dict,
        description="Maps quantop's fields (sql_prompt, sql_context, sql, domain) to the file's column names.",
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Dataset:
        given = [n for n in ("builtin", "config_map_ref", "url") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("dataset needs exactly one of builtin, configMapRef or url")
        return self


class Accuracy(_Model):
    """Accuracy measured on the held-out set."""

    dataset: Dataset = Field(
        default_factory=lambda: Dataset(builtin="text-to-sql"), description="Held-out evaluation set."
    )
    metric: AccuracyMetric = Field(
        default=AccuracyMetric.EXECUTION_ACCURACY,
        description="execution-accuracy runs gold and predicted SQL on SQLite; exact, contains, regex for other tasks.",
    )
    samples: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="Most examples scored (drawn in one seeded order): a paired run stops earlier once the accuracy gates are decided.",
    )
    concurrency: int = Field(default=8, ge=1, le=1024, description="Concurrent accuracy requests.")


class Slo(_Model):
    """Service-level objectives a candidate must meet under load. Unset objectives are not gated."""

    model_config = _with_cel(
        {
            "rule": "!has(self.p95LatencyMs) || !has(self.p99LatencyMs) || self.p99LatencyMs >= self.p95LatencyMs",
            "message": "slo.p99LatencyMs must be >= slo.p95LatencyMs",
        }
    )

    p95_latency_ms: float | None = Field(default=None, gt=0, le=3_600_000, description="Max p95 end-to-end latency.")
    p99_latency_ms: float | None = Field(default=None, gt=0, le=3_600_000, description="Max p99 end-to-end latency.")
    ttft_p95_ms: float | None = Field(default=None, gt=0, le=3_600_000, description="Max p95 time to first token.")
    min_requests_per_second: float | None = Field(default=None, ge=0, description="Min completed requests/s.")
    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="Max fraction of failed requests.")

    @model_validator(mode="after")
    def _p99_not_below_p95(self) -> Slo:
        if self.p95_latency_ms and self.p99_latency_ms and self.p99_latency_ms < self.p95_latency_ms:
            raise ValueError("slo.p99LatencyMs must be >= slo.p95LatencyMs")
        return self


class Baseline(_Model):
    """The accuracy a candidate is compared with: a number, or another QuantizedModel's promoted results."""

    model_config = _with_cel(
        {
            "rule": "!(has(self.accuracy) && has(self.modelRef))",
            "message": "baseline takes accuracy or modelRef, not both",
        }
    )

    accuracy: float | None = Field(default=None, ge=0, le=1, description="Baseline accuracy (0..1).")
    model_ref: str | None = Field(
        default=None,
        pattern=K8S_NAME,
        max_length=253,
        description="Name of a QuantizedModel in the same namespace whose promoted results are the baseline.",
    )
    max_accuracy_drop: float = Field(
        default=0.01, ge=0, le=1, description="Largest allowed drop below the baseline accuracy (absolute)."
    )
    min_accuracy: float | None = Field(
        default=None, ge=0, le=1, description="Absolute accuracy floor, gated with or without a baseline."
    )

    @model_validator(mode="after")
    def _one_baseline(self) -> Baseline:
        if self.accuracy is not None and self.model_ref is not None:
            raise ValueError("baseline takes accuracy or modelRef, not both")
        return self


class OnInconclusive(StrEnum):
    """What a rollout does when a gate's budget ran out before its interval cleared the threshold."""

    FAIL = "Fail"
    AWAIT_PROMOTION = "AwaitPromotion"
    PROMOTE = "Promote"


class Validation(_Model):
    """Checks a candidate must pass before it is promoted."""

    load: LoadTest = Field(default_factory=LoadTest, description="Load test settings.")
    accuracy: Accuracy = Field(default_factory=Accuracy, description="Accuracy evaluation settings.")
    slo: Slo = Field(default_factory=Slo, description="Latency, throughput and error objectives.")
    baseline: Baseline = Field(default_factory=Baseline, description="Accuracy baseline and allowed drop.")
    confidence: float = Field(
        default=0.95,
        gt=0.5,
        lt=0.999,
        description="Confidence of every gate's bounds: each gate wrongly passes or fails at most 1 - confidence.",
    )
    on_inconclusive: OnInconclusive = Field(
        default=OnInconclusive.FAIL,
        description="A gate left undecided when its budget ran out: Fail, AwaitPromotion (quantop.dev/promote) or Promote.",
    )
    timeout: Annotated[
        str, Field(description="Deadline of the validation Job (activeDeadlineSeconds)."), DurationBounds(60, 24 * 3600)
    ] = "1h"
    baseline_timeout: Annotated[
        str,
        Field(
            description=(
                "How long a candidate waits for baseline.modelRef to be promoted (holding no GPU) before its "
                "phase becomes Failed; it resumes if the baseline is promoted later."
            )
        ),
        DurationBounds(60, 7 * 86400),
    ] = "1h"


class PromotionStrategy(StrEnum):
    """Where a candidate runs while it is validated."""

    #: Beside the stable revision: needs GPUs for the candidate's replica on top of the stable ones.
    BLUE_GREEN = "BlueGreen"
    #: On one replica taken from the stable revision (N -> N-1 while validating): no spare GPU needed.
    IN_PLACE = "InPlace"


class Guard(_Model):
    """Watch the promoted revision's production signals and roll back on a breach (docs/guard.md)."""

    # CEL's duration() errors on a malformed string: the schema's pattern refuses those, so skip them here.
    model_config = _with_cel(
        {
            "rule": f"!has(self.duration) || !self.duration.matches('{DURATION_PATTERN}') "
            f"|| duration(self.duration) >= duration('{LONG_WINDOW}')",
            "message": f"promotion.guard.duration must be at least the guard's longest window, {LONG_WINDOW}",
        },
        {
            "rule": f"!has(self.duration) || !self.duration.matches('{DURATION_PATTERN}') "
            f"|| duration(self.duration) <= duration('{int(MAX_GUARD_SECONDS)}s')",
            "message": "promotion.guard.duration must be at most 168h (7 days)",
        },
    )

    duration: str = Field(
        default="30m",
        # The pattern for the API server only: pydantic's own message for it would not say what to write.
        json_schema_extra={"pattern": DURATION_PATTERN},
        max_length=32,  # bounds the CEL rules' estimated cost
        description=(
            f"How long after a promotion the guard judges the new revision; at least {LONG_WINDOW}, "
            "the burn rate's long window."
        ),
    )
    keep_previous: bool = Field(
        default=True,
        description=(
            "Keep the previous revision at full replicas during the guard, so a rollback is instant; "
            "it scales down when the guard passes."
        ),
    )

    @model_validator(mode="after")
    def _long_enough(self) -> Guard:
        problem = guard_duration_problem(self.duration)
        if problem:
            raise ValueError(problem)
        return self


class Promotion(_Model):
    """How a candidate that passed becomes stable."""

    auto: bool = Field(
        default=True,
        description="Promote as soon as validation passes; false waits for annotation quantop.dev/promote=true.",
    )
    scale_down_delay_seconds: int = Field(
        default=300,
        ge=0,
        le=7 * 86400,
        description="Seconds the previous revision keeps serving after promotion.",
    )
    strategy: PromotionStrategy = Field(
        default=PromotionStrategy.BLUE_GREEN,
        description=(
            "BlueGreen validates the candidate beside the stable revision; InPlace on one replica taken from "
            "it (needs serving.replicas >= 2; less capacity while validating, no spare GPU)."
        ),
    )
    guard: Guard | None = Field(
        default=None,
        description="Production guard after promotion; needs the operator's Prometheus URL. No guard when unset.",
    )


class AccuracyProbe(_Model):
    """Periodic accuracy check of the stable revision in production."""

    enabled: bool = Field(default=False, description="Run the production accuracy probe.")
    interval: Annotated[str, Field(description="Time between probes."), DurationBounds(60, 7 * 86400)] = "15m"
    samples: int = Field(default=20, ge=1, le=1000, description="Held-out examples per probe.")
    concurrency: int = Field(default=2, ge=1, le=64, description="Concurrent probe requests.")


class VllmOptions(_Model):
    """vLLM engine arguments (vllm/engine/arg_utils.py). serving.maxTotalTokens is vLLM's --max-model-len."""

    gpu_memory_utilization: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description=(
            "vLLM --gpu-memory-utilization: share of GPU memory vLLM preallocates for weights, activations and "
            "KV cache; what is left after weights and activations becomes KV blocks."
        ),
    )
    kv_cache_dtype: KvCacheDtype = Field(
        default=KvCacheDtype.AUTO, description="vLLM --kv-cache-dtype; fp8 halves the KV cache per token."
    )
    max_num_seqs: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="vLLM --max-num-seqs: sequences per batch; beyond it requests wait (vLLM never answers 429).",
    )


class Monitoring(_Model):
    """Production monitoring settings."""

    accuracy_probe: AccuracyProbe = Field(default_factory=AccuracyProbe, description="Production accuracy probe.")
    pod_monitor: bool = Field(default=True, description="Create a PodMonitor that scrapes TGI's /metrics.")


#: Selection fields that mean nothing without `method: auto`: the message names both ways out.
AUTO_ONLY: dict[str, str] = {
    "candidates": "quantization.candidates lists the methods of a `method: auto` selection: set method: auto, "
    "or remove candidates to serve the one method",
    "objective": "quantization.objective steers a `method: auto` selection: set method: auto, or remove objective",
    "gpu": "gpu.candidates lists the GPUs of a `method: auto` selection: set method: auto (candidates: [METHOD] "
    "to choose only the GPU), or remove gpu.candidates",
    "selection": "spec.selection budgets a `method: auto` selection: set method: auto, or remove spec.selection",
}
CANDIDATES_NOT_VLLM = (
    "quantization.candidates names a TGI-only method (eetq, bitsandbytes-nf4/-fp4, exl2, marlin) with engine vllm: "
    "use fp8, bitsandbytes, awq_marlin or gptq_marlin"
)
CANDIDATES_NOT_TGI = (
    "quantization.candidates names a vLLM-only method (awq_marlin, gptq_marlin) with engine tgi: use awq or gptq"
)

IN_PLACE_NEEDS_TWO = (
    "promotion.strategy InPlace validates the candidate on a replica taken from the stable revision: with "
    "serving.replicas below 2 it would take the only serving replica; set serving.replicas >= 2 or use BlueGreen"
)

CEL_RULES_SPEC: list[dict[str, str]] = [
    {
        "rule": "!has(self.serving) || self.serving.maxTotalTokens > self.serving.maxInputTokens",
        "message": "serving.maxTotalTokens must be greater than serving.maxInputTokens",
        "fieldPath": ".serving.maxTotalTokens",
    },
    {
        "rule": "self.quantization.method != 'exl2' || !has(self.gpu.count) || self.gpu.count == 1",
        "message": "exl2 does not support tensor parallelism: set gpu.count to 1 or pick another method",
        "fieldPath": ".gpu.count",
    },
    {
        "rule": (
            "!has(self.promotion) || !has(self.promotion.strategy) || self.promotion.strategy != 'InPlace' "
            "|| (has(self.serving) && has(self.serving.replicas) && self.serving.replicas >= 2)"
        ),
        "message": IN_PLACE_NEEDS_TWO,
        "fieldPath": ".promotion.strategy",
    },
    *(
        {
            "rule": f"!has(self.engine) || self.engine != 'vllm' || self.quantization.method != '{method}'",
            "message": message,
            "fieldPath": ".quantization.method",
        }
        for method, message in VLLM_INSTEAD_OF_TGI.items()
    ),
    *(
        {
            "rule": f"(has(self.engine) && self.engine == 'vllm') || self.quantization.method != '{method}'",
            "message": message,
            "fieldPath": ".quantization.method",
        }
        for method, message in TGI_INSTEAD_OF_VLLM.items()
    ),
    *(
        {
            "rule": f"{given} || self.quantization.method == '{AUTO}'",
            "message": message,
            "fieldPath": path,
        }
        for given, message, path in (
            ("!has(self.quantization.candidates)", AUTO_ONLY["candidates"], ".quantization.candidates"),
            ("!has(self.quantization.objective)", AUTO_ONLY["objective"], ".quantization.objective"),
            ("!has(self.gpu.candidates)", AUTO_ONLY["gpu"], ".gpu.candidates"),
            ("!has(self.selection)", AUTO_ONLY["selection"], ".selection"),
        )
    ),
    *(
        {
            "rule": f"!has(self.quantization.candidates) || ({engine_is}) "
            f"|| !self.quantization.candidates.exists(c, c in {sorted(names)!r})",
            "message": message,
            "fieldPath": ".quantization.candidates",
        }
        for engine_is, names, message in (
            ("!has(self.engine) || self.engine != 'vllm'", VLLM_INSTEAD_OF_TGI, CANDIDATES_NOT_VLLM),
            ("has(self.engine) && self.engine == 'vllm'", TGI_INSTEAD_OF_VLLM, CANDIDATES_NOT_TGI),
        )
    ),
    {
        "rule": "!has(self.vllm) || (has(self.engine) && self.engine == 'vllm')",
        "message": "spec.vllm holds vLLM engine arguments: set engine: vllm or remove spec.vllm",
        "fieldPath": ".vllm",
    },
    {
        "rule": "!has(self.engine) || self.engine != 'vllm' || !has(self.serving) "
        "|| !has(self.serving.maxBatchTotalTokens)",
        "message": "vLLM sizes its KV cache from vllm.gpuMemoryUtilization: remove serving.maxBatchTotalTokens",
        "fieldPath": ".serving.maxBatchTotalTokens",
    },
]


class QuantizedModelSpec(_Model):
    """Desired state of a quantized model served by TGI."""

    model_config = _with_cel(*CEL_RULES_SPEC)

    engine: Engine = Field(
        default=Engine.TGI,
        description="Serving engine: tgi (Text Generation Inference, the default) or vllm (vLLM's OpenAI server).",
    )
    model: ModelSource = Field(description="The Hugging Face model to serve.")
    quantization: Quantization = Field(description="Quantization method (per engine) and dtype.")
    gpu: Gpu = Field(description="GPU profile and count per replica.")
    serving: Serving = Field(default_factory=Serving, description="TGI image, replicas and token limits.")
    validation: Validation = Field(default_factory=Validation, description="Pre-promotion load and accuracy checks.")
    promotion: Promotion = Field(default_factory=Promotion, description="Promotion policy.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Production monitoring.")
    vllm: VllmOptions | None = Field(default=None, description="vLLM engine arguments; only with engine vllm.")
    selection: SelectionBudget | None = Field(
        default=None, description="GPU budget of a `method: auto` selection; only with method auto."
    )

    @model_validator(mode="after")
    def _in_place_needs_two_replicas(self) -> QuantizedModelSpec:
        if self.promotion.strategy == PromotionStrategy.IN_PLACE and self.serving.replicas < 2:
            raise ValueError(IN_PLACE_NEEDS_TWO)
        return self

    @model_validator(mode="after")
    def _cross_field(self) -> QuantizedModelSpec:
        if self.serving.max_total_tokens <= self.serving.max_input_tokens:
            raise ValueError(
                f"serving.maxTotalTokens ({self.serving.max_total_tokens}) must be greater than "
                f"serving.maxInputTokens ({self.serving.max_input_tokens})"
            )
        if self.quantization.method == QuantizationMethod.EXL2 and self.gpu.count != 1:
            raise ValueError("exl2 does not support tensor parallelism: set gpu.count to 1 or pick another method")
        if problem := engine_problem(self) or selection_problem(self):
            raise ValueError(problem)
        return self

    @property
    def image(self) -> str:
        """The serving image: the spec's, else the engine's pinned release."""
        return self.serving.image or DEFAULT_IMAGES[self.engine]

    @property
    def vllm_options(self) -> VllmOptions:
        """vLLM arguments with their defaults filled in (an absent spec.vllm means all defaults)."""
        return self.vllm or VllmOptions()

    def engine_revision_fields(self) -> dict[str, object]:
        """What the engine adds to the revision hash: nothing for TGI, so TGI revisions keep their hashes."""
        if self.engine == Engine.TGI:
            return {}
        opts = self.vllm_options
        return {
            "engine": self.engine.value,
            "gpuMemoryUtilization": opts.gpu_memory_utilization,
            "kvCacheDtype": opts.kv_cache_dtype.value,
            "maxNumSeqs": opts.max_num_seqs,
        }


def engine_problem(spec: QuantizedModelSpec) -> str | None:
    """The engine/method pairs and engine-only fields that cannot work, as the CEL rules say them."""
    method = spec.quantization.method.value
    if spec.engine == Engine.VLLM:
        if method in VLLM_INSTEAD_OF_TGI:
            return VLLM_INSTEAD_OF_TGI[method]
        if spec.serving.max_batch_total_tokens is not None:
            return "vLLM sizes its KV cache from vllm.gpuMemoryUtilization: remove serving.maxBatchTotalTokens"
        return None
    if method in TGI_INSTEAD_OF_VLLM:
        return TGI_INSTEAD_OF_VLLM[method]
    if spec.vllm is not None:
        return "spec.vllm holds vLLM engine arguments: set engine: vllm or remove spec.vllm"
    return None


def selection_problem(spec: QuantizedModelSpec) -> str | None:
    """Selection fields without `method: auto`, and candidates the engine does not have, as the CEL rules say them."""
    q = spec.quantization
    if q.method != MethodChoice.AUTO:
        given = {
            "candidates": q.candidates is not None,
            "objective": q.objective is not None,
            "gpu": spec.gpu.candidates is not None,
            "selection": spec.selection is not None,
        }
        return next((AUTO_ONLY[k] for k, v in given.items() if v), None)
    methods = [m.value for m in q.candidates or []]
    if len(set(methods)) != len(methods):
        return "quantization.candidates lists a method twice: list each method once"
    gpus = [(g.type, g.count) for g in spec.gpu.candidates or []]
    if len(set(gpus)) != len(gpus):
        return "gpu.candidates lists a GPU type and count twice: list each once"
    wrong = VLLM_INSTEAD_OF_TGI if spec.engine == Engine.VLLM else TGI_INSTEAD_OF_VLLM
    if any(m in wrong for m in methods):
        return CANDIDATES_NOT_VLLM if spec.engine == Engine.VLLM else CANDIDATES_NOT_TGI
    return None
