"""The production guard's fixed windows and the admission check that needs the operator's config.

After a promotion the guard judges the new stable revision through Prometheus recording rules over
two windows (:data:`SHORT_WINDOW`, :data:`LONG_WINDOW`). The windows live here, in the lowest layer,
because three places must agree on them: the spec (a guard shorter than the long window is refused,
since that window could never fill), the rule generator (which records each window) and the judge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .durations import format_duration, parse_duration

if TYPE_CHECKING:
    from .config import OperatorConfig
    from .spec import QuantizedModelSpec

#: Confirms that a breach is still happening now (the SRE workbook's short window, 1/6 of the long one).
SHORT_WINDOW = "5m"
#: The window whose burn rate decides; a guard must last at least this long.
LONG_WINDOW = "30m"
WINDOWS = (SHORT_WINDOW, LONG_WINDOW)
MIN_GUARD_SECONDS = parse_duration(LONG_WINDOW)
MAX_GUARD_SECONDS = 7 * 86400.0


def guard_duration_problem(duration: str) -> str | None:
    """Why a guard duration is refused (too short for the long window, or absurdly long), or None."""
    seconds = parse_duration(duration)
    if seconds < MIN_GUARD_SECONDS:
        return (
            f"promotion.guard.duration {duration} is shorter than the guard's longest window ({LONG_WINDOW}): "
            f"the burn rate over {LONG_WINDOW} could never fill; set at least {format_duration(MIN_GUARD_SECONDS)}"
        )
    if seconds > MAX_GUARD_SECONDS:
        return f"promotion.guard.duration {duration} is longer than {format_duration(MAX_GUARD_SECONDS)}"
    return None


def promotion_refusal(spec: QuantizedModelSpec, config: OperatorConfig) -> str | None:
    """The refusal message for a spec this operator cannot honour, or None. Pure: the controller calls it.

    Rules that need only the spec are pydantic validators and CEL rules (the API server refuses
    them); this one needs the operator's config, which the API server does not know.
    """
    if spec.promotion.guard is not None and not config.prometheus.url:
        return (
            "promotion.guard needs Prometheus, but the operator's config has no prometheus.url: set the Helm "
            "value config.prometheus.url (e.g. http://prometheus-operated.monitoring.svc:9090) or remove "
            "promotion.guard"
        )
    return None
