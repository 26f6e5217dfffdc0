"""The planner: GPU catalog, method x GPU compatibility (from TGI's kernels), memory fit, recommendation."""

from .advice import GUIDE_RELATIVE_SPEED
from .catalog import GPU_CATALOG, GpuSpec, PlanningError, resolve_gpu
from .compatibility import Compat, Level, compatibility
from .memory import BITS, MemoryFit, memory_fit, weight_bytes
from .models import MODEL_TABLE, ModelInfo, from_config, lookup_model, resolve_architecture, resolve_architecture_async
from .plan import (
    DECISION_MATRIX,
    MethodAssessment,
    assess_all,
    assess_method,
    plan_spec,
    recommend,
)

__all__ = [
    "BITS",
    "DECISION_MATRIX",
    "GPU_CATALOG",
    "GUIDE_RELATIVE_SPEED",
    "MODEL_TABLE",
    "Compat",
    "GpuSpec",
    "Level",
    "MemoryFit",
    "MethodAssessment",
    "ModelInfo",
    "PlanningError",
    "assess_all",
    "assess_method",
    "compatibility",
    "from_config",
    "lookup_model",
    "memory_fit",
    "plan_spec",
    "recommend",
    "resolve_architecture",
    "resolve_architecture_async",
    "resolve_gpu",
    "weight_bytes",
]
