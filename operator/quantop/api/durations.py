"""Kubernetes-style durations (`90s`, `5m`, `1h30m`), parsed once and bounded.

A duration in a spec is a string so that `kubectl explain` and YAML read naturally; every
consumer works in seconds through :func:`parse_duration`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration string; raises ValueError naming the accepted form."""
    if not re.fullmatch(DURATION_PATTERN, text or ""):
        raise ValueError(f"invalid duration {text!r}: use a number with a unit, e.g. 90s, 5m, 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest duration string for a whole number of seconds (`330` -> `5m30s`)."""
    whole = round(seconds)
    if whole <= 0:
        return "0s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v)


class DurationBounds:
    """Annotated metadata: a duration string bounded to [low, high] seconds.

    Use as ``Annotated[str, DurationBounds(60, 3600), Field(description=...)]``; the schema gets
    the pattern and the bounds in its description, validation rejects absurd values.
    """

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def _check(self, text: str) -> str:
        seconds = parse_duration(text)
        if not self.low <= seconds <= self.high:
            raise ValueError(
                f"duration {text!r} is out of range: it must lie between "
                f"{format_duration(self.low)} and {format_duration(self.high)}"
            )
        return text

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = DURATION_PATTERN
        bounds = f"Between {format_duration(self.low)} and {format_duration(self.high)}."
        json_schema["description"] = f"{json_schema.get('description', '')} {bounds}".strip()
        return json_schema
