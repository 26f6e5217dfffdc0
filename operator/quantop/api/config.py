"""The operator's configuration file: GPU profiles and defaults (Helm renders it into a ConfigMap).

The same file drives `quantop render`, the sandbox and the in-cluster operator, so what the
chart mounts is what the tests use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from .durations import DurationBounds
from .fetch_policy import FetchPolicy
from .image_ref import ImageRefError, RepositoryPattern, parse_repository_pattern


class _Config(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Toleration(_Config):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class GpuProfile(_Config):
    """A GPU node pool: how to schedule on it and what it offers."""

    gpu: str = Field(description="GPU model in quantop's catalog (a10, a100-80gb, h100, l4, t4, ...).")
    node_selector: dict[str, str] = Field(default_factory=dict, description="Node labels of the pool.")
    tolerations: list[Toleration] = Field(default_factory=list, description="Tolerations for the pool's taints.")
    memory_gi_b: float | None = Field(
        default=None, alias="memoryGiB", gt=0, description="GPU memory override; the catalog's when unset."
    )
    price_per_hour: float | None = Field(
        default=None, ge=0, description="USD per GPU-hour override; the catalog's when unset."
    )
    resource_name: str = Field(default="nvidia.com/gpu", description="Extended resource requested per GPU.")


class ModelCache(_Config):
    """Where TGI keeps downloaded weights (/data)."""

    type: Literal["emptyDir", "pvc"] = "emptyDir"
    claim_name: str | None = Field(default=None, description="Existing PVC when type is pvc.")
    size_limit: str = Field(default="50Gi", description="emptyDir size limit.")


class ValidationDefaults(_Config):
    image: str = Field(default="ghcr.io/quantop/quantop:0.1.0", description="Image running `quantop validate`.")
    service_account_name: str | None = Field(default=None, description="Service account of validation Jobs.")


class PrometheusConfig(_Config):
    """The Prometheus HTTP API the production guard reads (promotion.guard)."""

    url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        max_length=2048,
        description=(
            "Base URL of the Prometheus HTTP API, e.g. http://prometheus-operated.monitoring.svc:9090; "
            "a QuantizedModel with promotion.guard is refused without it."
        ),
    )
    timeout: Annotated[
        str,
        Field(description="Total deadline of one query, connection and answer included."),
        DurationBounds(1, 120),
    ] = "10s"


#: TGI's and vLLM's own repositories: what the engines' pinned releases come from.
DEFAULT_ALLOWED_IMAGES = ["ghcr.io/huggingface/text-generation-inference", "docker.io/vllm/vllm-openai"]
#: Every namespace (a key of allowedSecrets).
ANY_NAMESPACE = "*"
#: Secrets named for the Hugging Face token (hf-token, hf-token-team-a, ...): by convention they hold nothing else.
DEFAULT_ALLOWED_SECRETS = {ANY_NAMESPACE: ["hf-token*"]}
_SECRET_PATTERN = r"^[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?$"
_NAMESPACE_KEY = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$"


def secret_pattern_matches(pattern: str, name: str) -> bool:
    """`*` matches any run of characters, everything else itself (no `?` or `[...]`: names are plain DNS names)."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, name) is not None


class OperatorConfig(_Config):
    """Everything the operator reads from its ConfigMap."""

    gpu_profiles: dict[str, GpuProfile] = Field(description="GPU profiles by name (spec.gpu.type).")
    model_cache: ModelCache = Field(default_factory=ModelCache)
    shm_size: str = Field(default="1Gi")
    validation: ValidationDefaults = Field(default_factory=ValidationDefaults)
    hub_url: str = Field(
        default="https://huggingface.co",
        description="Where config.json of models outside quantop's table is fetched (a mirror in air-gapped clusters).",
    )

    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    fetch: FetchPolicy = Field(
        default_factory=FetchPolicy,
        description=(
            "Where a fetch of a user's URL (a dataset URL) may lead, in the operator's probe and in validation "
            "Jobs: hosts redirects may go to, and networks denied besides link-local and metadata addresses."
        ),
    )
    allowed_images: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_IMAGES),
        max_length=256,
        description=(
            "Repositories spec.serving.image may name (registry/path, matched on the parsed reference with any tag "
            "or digest), or registry/path/* for every repository below a path. The engines' default images must "
            "be listed for QuantizedModels that leave spec.serving.image unset."
        ),
    )
    allowed_secrets: dict[
        Annotated[str, Field(pattern=_NAMESPACE_KEY, max_length=63)],
        list[Annotated[str, Field(pattern=_SECRET_PATTERN, max_length=253)]],
    ] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_ALLOWED_SECRETS.items()},
        description=(
            "Secret names spec.model.tokenSecretRef may name, per namespace ('*': every namespace), with * as "
            "a wildcard. The operator cannot read Secrets; this list is what keeps a QuantizedModel author from "
            "handing another Secret of the namespace to the serving pod."
        ),
    )

    @field_validator("allowed_images")
    @classmethod
    def _images_parse(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                parse_repository_pattern(entry)
            except ImageRefError as exc:
                raise ValueError(str(exc)) from None
        return entries

    def image_patterns(self) -> list[RepositoryPattern]:
        return [parse_repository_pattern(entry) for entry in self.allowed_images]

    def secret_patterns(self, namespace: str) -> list[str]:
        """The patterns that apply in `namespace`: its own and those for every namespace."""
        return [*self.allowed_secrets.get(ANY_NAMESPACE, []), *self.allowed_secrets.get(namespace, [])]

    @classmethod
    def load(cls, path: str | Path) -> OperatorConfig:
        with open(path, encoding="utf-8") as f:
            data: Any = yaml.safe_load(f) or {}
        return cls.model_validate(data)


DEFAULT_CONFIG_PATH = Path(__file__).with_name("default-config.yaml")


def default_config() -> OperatorConfig:
    """The config shipped with the package (the Helm chart's defaults render the same file)."""
    return OperatorConfig.load(DEFAULT_CONFIG_PATH)
