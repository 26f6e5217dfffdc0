"""Everything a builder needs about one QuantizedModel, gathered once by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantop.api import GpuProfile, OperatorConfig, QuantizedModelSpec
from quantop.api.resource import SpecError

from .names import MAX_MODEL_NAME, revision_of


@dataclass(frozen=True)
class ModelContext:
    name: str
    namespace: str
    uid: str
    spec: QuantizedModelSpec
    profile: GpuProfile
    config: OperatorConfig

    @property
    def revision(self) -> str:
        return revision_of(self.spec)


def make_context(name: str, namespace: str, uid: str, spec: QuantizedModelSpec, config: OperatorConfig) -> ModelContext:
    """Resolve the GPU profile; an unknown profile or an over-long name is a SpecError that says what to change."""
    if len(name) > MAX_MODEL_NAME:
        raise SpecError(
            f"metadata.name {name!r} is {len(name)} characters: use at most {MAX_MODEL_NAME} so that "
            f"revision names (<name>-<revision>) stay valid Service names"
        )
    profile = config.gpu_profiles.get(spec.gpu.type)
    if profile is None:
        known = ", ".join(sorted(config.gpu_profiles)) or "(none configured)"
        raise UnknownGpuProfile(
            f"spec.gpu.type {spec.gpu.type!r} is not a GPU profile of this operator: use one of {known}, "
            f"or add it to the Helm value gpuProfiles"
        )
    return ModelContext(name=name, namespace=namespace, uid=uid, spec=spec, profile=profile, config=config)


class UnknownGpuProfile(SpecError):
    """spec.gpu.type names no profile in the operator's configuration."""


def hf_token_env(ctx: ModelContext) -> list[dict[str, Any]]:
    """HF_TOKEN from the Secret the spec names, through a secretKeyRef: the one place a serving pod gets it,
    so the token itself never appears in args, manifests or status."""
    ref = ctx.spec.model.token_secret_ref
    if ref is None:
        return []
    return [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}]
