"""GPUs quantop knows: memory, compute capability and a default on-demand price per GPU-hour.

Compute capability decides which TGI kernels run (see compatibility.py). Prices are typical
on-demand cloud list prices and only defaults: Helm's gpuProfiles override them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from quantop.api import GpuProfile


@dataclass(frozen=True)
class GpuSpec:
    name: str
    product: str
    memory_gib: float
    compute_capability: tuple[int, int]
    price_per_hour: float

    @property
    def cc(self) -> float:
        return self.compute_capability[0] + self.compute_capability[1] / 10


GPU_CATALOG: dict[str, GpuSpec] = {
    g.name: g
    for g in (
        # 141 GB on the box; 139.8 GiB is what CUDA reports usable (measured on an H200).
        GpuSpec("h200", "NVIDIA H200", 139.8, (9, 0), 5.00),
        GpuSpec("h100", "NVIDIA H100 80GB", 80, (9, 0), 4.10),
        GpuSpec("a100-80gb", "NVIDIA A100 80GB", 80, (8, 0), 2.50),
        GpuSpec("a100-40gb", "NVIDIA A100 40GB", 40, (8, 0), 1.80),
        GpuSpec("l40s", "NVIDIA L40S", 48, (8, 9), 1.90),
        GpuSpec("l4", "NVIDIA L4", 24, (8, 9), 0.80),
        # The guide's benchmark machine: g5.4xlarge, one A10G, 1.624 USD/hour.
        GpuSpec("a10", "NVIDIA A10G", 24, (8, 6), 1.624),
        GpuSpec("t4", "NVIDIA T4", 16, (7, 5), 0.53),
        GpuSpec("v100", "NVIDIA V100 16GB", 16, (7, 0), 3.06),
    )
}


class PlanningError(Exception):
    """The plan cannot be made; ``reason`` is a quantop.api.Reason value, ``message`` says what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = str(reason)
        self.message = message


def resolve_gpu(profile: GpuProfile) -> GpuSpec:
    """The catalog entry a profile names, with the profile's memory and price overrides."""
    from quantop.api import Reason

    spec = GPU_CATALOG.get(profile.gpu)
    if spec is None:
        known = ", ".join(GPU_CATALOG)
        raise PlanningError(
            Reason.UNKNOWN_GPU_TYPE,
            f"GPU profile names gpu {profile.gpu!r}, which quantop's catalog lacks: use one of {known}",
        )
    return replace(
        spec,
        memory_gib=profile.memory_gi_b or spec.memory_gib,
        price_per_hour=spec.price_per_hour if profile.price_per_hour is None else profile.price_per_hour,
    )
