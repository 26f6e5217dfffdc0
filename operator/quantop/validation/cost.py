"""What the measured throughput costs: GPU price per hour spread over what was served."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    price_per_hour: float
    gpus: int
    usd_per_million_tokens: float | None
    usd_per_thousand_requests: float | None


def cost(price_per_gpu_hour: float, *, gpus: int, tokens_per_s: float, requests_per_s: float) -> Cost:
    """Cost of the measured load on `gpus` GPUs (replicas × GPUs per replica), kept busy all hour."""
    hourly = price_per_gpu_hour * gpus
    per_token = hourly / (tokens_per_s * 3600) * 1e6 if tokens_per_s > 0 else None
    per_request = hourly / (requests_per_s * 3600) * 1e3 if requests_per_s > 0 else None
    return Cost(hourly, gpus, per_token, per_request)
