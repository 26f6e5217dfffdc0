"""The operator: kopf handlers around a pure, level-triggered reconcile."""

from .apply import apply, drift_patch, is_subset
from .kube import RESOURCES, Credentials, KubeClient, KubeError
from .outcome import Event, Outcome, status_patch
from .reconcile import reconcile

__all__ = [
    "RESOURCES",
    "Credentials",
    "Event",
    "KubeClient",
    "KubeError",
    "Outcome",
    "apply",
    "drift_patch",
    "is_subset",
    "reconcile",
    "status_patch",
]
