"""Reading the generated dashboards' PromQL back, for tests that check or run it against Prometheus."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Values a test Prometheus accepts in place of Grafana's variables: regex-safe matchers and fixed ranges.
TEST_VARIABLES = {
    "namespace": ".*",
    "model": ".*",
    "model_id": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "datasource": "",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Replace Grafana template variables in a PromQL expression; an unknown variable is an error."""
    values = TEST_VARIABLES if values is None else values

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise ValueError(f"no test value for template variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def _panels(panels: list[Any]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])  # collapsed rows keep their panels inside


def panel_queries(dashboard_json: dict[str, Any]) -> list[str]:
    """Every panel's PromQL, in dashboard order, with template variables replaced by test values."""
    return [
        substitute(target["expr"])
        for panel in _panels(dashboard_json.get("panels") or [])
        for target in panel.get("targets") or []
        if target.get("expr")
    ]


def annotation_queries(dashboard_json: dict[str, Any]) -> list[str]:
    """The PromQL of the dashboard's annotations (they may rightly return nothing: no promotion yet)."""
    return [substitute(a["expr"]) for a in (dashboard_json.get("annotations") or {}).get("list") or [] if a.get("expr")]
