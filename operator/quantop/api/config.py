"""The operator's configuration file: GPU profiles and defaults (Helm renders it into a ConfigMap).

The same file drives `quantop render`, the sandbox and the in-cluster operator, so what the
chart mounts is what the tests use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .durations import DurationBounds
from .spec import DEFAULT_TGI_IMAGE


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


class OperatorConfig(_Config):
    """Everything the operator reads from its ConfigMap."""

    gpu_profiles: dict[str, GpuProfile] = Field(description="GPU profiles by name (spec.gpu.type).")
    default_image: str = Field(default=DEFAULT_TGI_IMAGE, description="TGI image when spec.serving.image is unset.")
    model_cache: ModelCache = Field(default_factory=ModelCache)
    shm_size: str = Field(default="1Gi")
    validation: ValidationDefaults = Field(default_factory=ValidationDefaults)
    hub_url: str = Field(
        default="https://huggingface.co",
        description="Where config.json of models outside quantop's table is fetched (a mirror in air-gapped clusters).",
    )

    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)

    @classmethod
    def load(cls, path: str | Path) -> OperatorConfig:
        with open(path, encoding="utf-8") as f:
            data: Any = yaml.safe_load(f) or {}
        return cls.model_validate(data)


DEFAULT_CONFIG_PATH = Path(__file__).with_name("default-config.yaml")


def default_config() -> OperatorConfig:
    """The config shipped with the package (the Helm chart's defaults render the same file)."""
    return OperatorConfig.load(DEFAULT_CONFIG_PATH)
