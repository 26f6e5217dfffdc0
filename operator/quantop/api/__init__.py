"""The QuantizedModel API: spec, status, conditions, operator config and the generated CRD."""

from .conditions import Condition, ConditionStatus, ConditionType, Reason, get_condition, set_condition
from .config import GpuProfile, OperatorConfig, default_config
from .crd import build_crd, crd_yaml
from .durations import format_duration, parse_duration
from .resource import API_VERSION, GROUP, KIND, PLURAL, VERSION, SpecError, parse_spec
from .selection import CandidateRow, CandidateState, SelectionPhase, SelectionStatus
from .spec import (
    DEFAULT_TGI_IMAGE,
    PREQUANTIZED_METHODS,
    AccuracyMetric,
    Dtype,
    Objective,
    QuantizationMethod,
    QuantizedModelSpec,
)
from .status import (
    Compatibility,
    GateResult,
    Phase,
    PlanSummary,
    QuantizedModelStatus,
    RevisionRecord,
    ValidationResults,
    Verdict,
)
from .validation_request import ValidationRequest

__all__ = [
    "API_VERSION",
    "DEFAULT_TGI_IMAGE",
    "GROUP",
    "KIND",
    "PLURAL",
    "PREQUANTIZED_METHODS",
    "VERSION",
    "AccuracyMetric",
    "CandidateRow",
    "CandidateState",
    "Compatibility",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "Dtype",
    "GateResult",
    "GpuProfile",
    "Objective",
    "OperatorConfig",
    "Phase",
    "PlanSummary",
    "QuantizationMethod",
    "QuantizedModelSpec",
    "QuantizedModelStatus",
    "Reason",
    "RevisionRecord",
    "SelectionPhase",
    "SelectionStatus",
    "SpecError",
    "ValidationRequest",
    "ValidationResults",
    "Verdict",
    "build_crd",
    "crd_yaml",
    "default_config",
    "format_duration",
    "get_condition",
    "parse_duration",
    "parse_spec",
    "set_condition",
]
