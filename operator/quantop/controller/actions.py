"""What a decision asks the cluster to do: small frozen values that `decide` returns and `act` carries out.

Actions name builder inputs, not whole manifests, so a table test reads `Scale("abc123", 0)`
rather than a Deployment dict, and `act` stays the one place that builds and writes objects.
Events and metric counters are actions too: a decision's side effects are all listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantop.api.validation_request import ToBeat

from .outcome import Event


@dataclass(frozen=True)
class ApplyDeployment:
    """Create or correct the spec revision's Deployment; ``replicas`` None means serving.replicas."""

    replicas: int | None = None


@dataclass(frozen=True)
class ApplyRevisionService:
    """Create or correct the spec revision's own Service (what the validation Job calls)."""


@dataclass(frozen=True)
class ApplyStableService:
    """Point the stable Service at ``revision``; None selects no pod (nothing unproven is exposed)."""

    revision: str | None


@dataclass(frozen=True)
class ApplyPodMonitor:
    """Create or correct the PodMonitor that scrapes the model's serving pods."""


@dataclass(frozen=True)
class CreateJob:
    """Create the spec revision's validation Job (created once; a Job's spec is immutable)."""

    revision: str
    baseline_accuracy: float | None
    price_per_hour: float | None
    weights_gib: float | None
    #: The baseline's per-item accuracy results as --baseline-outcomes (DATASET:SEED:0110...), for pairing.
    baseline_outcomes: str | None = None
    #: A selection's figure to beat (planning.selection.figure_to_beat): the Job stops once surely above it.
    to_beat: ToBeat | None = None


@dataclass(frozen=True)
class Scale:
    """Set the replicas of another revision's Deployment (previous, stable) without rebuilding it."""

    revision: str
    replicas: int


@dataclass(frozen=True)
class Delete:
    """Delete an owned child of an abandoned revision."""

    kind: str  # Deployment | Service | Job
    name: str


@dataclass(frozen=True)
class LabelPod:
    """Set a serving pod's quantop.dev/role, so its scraped series say stable/candidate/previous."""

    name: str
    role: str


@dataclass(frozen=True)
class ClearAnnotation:
    """Remove a one-shot annotation the decision consumed (or found left over) from the QuantizedModel."""

    key: str


@dataclass(frozen=True)
class Count:
    """Increment an operator counter: promotion, rollback or validation_failed (with its reason)."""

    counter: str
    label: str


#: Writes to the cluster, in the order `act` runs them.
ClusterAction = (
    ApplyDeployment
    | ApplyRevisionService
    | ApplyStableService
    | ApplyPodMonitor
    | CreateJob
    | Scale
    | Delete
    | LabelPod
    | ClearAnnotation
)
Action = ClusterAction | Event | Count

__all__ = [
    "Action",
    "ApplyDeployment",
    "ApplyPodMonitor",
    "ApplyRevisionService",
    "ApplyStableService",
    "ClearAnnotation",
    "ClusterAction",
    "Count",
    "CreateJob",
    "Delete",
    "Event",
    "LabelPod",
    "Scale",
]
