"""Health probes of a serving container: both engines answer GET /health on the main port."""

from __future__ import annotations

import math
from typing import Any

from quantop.api import parse_duration

from .names import TGI_PORT_NAME

STARTUP_PROBE_PERIOD = 10


def http_probe(path: str, period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": TGI_PORT_NAME},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": timeout,
    }


def serving_probes(startup_timeout: str) -> dict[str, dict[str, Any]]:
    """Startup carries the download + load + warm-up budget; readiness is quick; liveness is lenient.

    TGI's /health runs a real generation and vLLM's checks its engine process; under load either
    can be slow, so liveness tolerates a few minutes before restarting a pod that is only busy.
    """
    startup_failures = math.ceil(parse_duration(startup_timeout) / STARTUP_PROBE_PERIOD)
    return {
        "startupProbe": http_probe("/health", STARTUP_PROBE_PERIOD, startup_failures, 5),
        "readinessProbe": http_probe("/health", 10, 3, 5),
        "livenessProbe": http_probe("/health", 30, 6, 20),
    }
