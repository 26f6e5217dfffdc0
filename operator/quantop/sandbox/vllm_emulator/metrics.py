"""vLLM's Prometheus metrics, with the names, types, labels and buckets its exporter uses.

Read from vLLM's source: vllm/v1/metrics/loggers.py (PrometheusStatLogger) registers with
prometheus_client, whose text format types and samples a counter as NAME_total
(`vllm:prompt_tokens` -> `vllm:prompt_tokens_total`), and every series carries the labels
`model_name` and `engine` (the engine core's index, "0" for one engine). The OpenAI server also
runs prometheus-fastapi-instrumentator (vllm/entrypoints/openai/api_server.py), whose
`http_requests_total{handler,method,status}` counts every answer, errors included: vLLM has no
failure counter of its own, so that is where an error ratio comes from.
"""

from __future__ import annotations

from collections import defaultdict

from quantop.sandbox.tgi_emulator.metrics import Histogram, Labels, _labels, _number

#: vllm:e2e_request_latency_seconds and the per-phase request histograms.
REQUEST_LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                           120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)  # fmt: skip
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
#: vllm:inter_token_latency_seconds and vllm:request_time_per_output_token_seconds.
TOKEN_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                         10.0, 20.0, 40.0, 80.0)  # fmt: skip
#: vLLM's finish reasons (vllm/v1/engine/__init__.py FinishReason), each a vllm:request_success series.
FINISH_REASONS = ("stop", "length", "abort", "error")


def buckets_1_2_5(limit: int) -> tuple[float, ...]:
    """build_1_2_5_buckets(max_model_len): 1, 2, 5, 10, 20, 50, ... up to the limit."""
    out: list[float] = []
    scale = 1
    while True:
        for m in (1, 2, 5):
            if m * scale > limit:
                return tuple(out)
            out.append(float(m * scale))
        scale *= 10


class VllmMetrics:
    """The series an emulated single-engine vLLM server can produce truthfully."""

    def __init__(self, model_name: str, max_model_len: int) -> None:
        self.base: Labels = (("engine", "0"), ("model_name", model_name))
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, float] = {
            "vllm:num_requests_running": 0,
            "vllm:num_requests_waiting": 0,
            "vllm:kv_cache_usage_perc": 0,
        }
        token_buckets = buckets_1_2_5(max_model_len)
        self.histograms: dict[str, Histogram] = {
            "vllm:e2e_request_latency_seconds": Histogram(REQUEST_LATENCY_BUCKETS),
            "vllm:request_queue_time_seconds": Histogram(REQUEST_LATENCY_BUCKETS),
            "vllm:request_prefill_time_seconds": Histogram(REQUEST_LATENCY_BUCKETS),
            "vllm:request_decode_time_seconds": Histogram(REQUEST_LATENCY_BUCKETS),
            "vllm:request_inference_time_seconds": Histogram(REQUEST_LATENCY_BUCKETS),
            "vllm:time_to_first_token_seconds": Histogram(TTFT_BUCKETS),
            "vllm:inter_token_latency_seconds": Histogram(TOKEN_LATENCY_BUCKETS),
            "vllm:request_time_per_output_token_seconds": Histogram(TOKEN_LATENCY_BUCKETS),
            "vllm:request_prompt_tokens": Histogram(token_buckets),
            "vllm:request_generation_tokens": Histogram(token_buckets),
            "vllm:request_params_max_tokens": Histogram(token_buckets),
        }
        for name in ("vllm:prompt_tokens", "vllm:generation_tokens", "vllm:num_preemptions"):
            self.counters[name][()] = 0
        for reason in FINISH_REASONS:
            self.counters["vllm:request_success"][(("finished_reason", reason),)] = 0

    def inc(self, name: str, labels: Labels = (), by: float = 1) -> None:
        self.counters[name][labels] += by

    def observe(self, name: str, value: float) -> None:
        self.histograms[name].observe(value)

    def http(self, handler: str, status: int) -> None:
        """prometheus-fastapi-instrumentator's count, status grouped as 2xx/4xx/5xx."""
        self.counters["http_requests"][
            (("handler", handler), ("method", "POST"), ("status", f"{status // 100}xx"))
        ] += 1

    def render(self) -> str:
        """Prometheus text format as prometheus_client writes it: a counter is typed and sampled as NAME_total."""
        lines: list[str] = []
        for name, series in sorted(self.counters.items()):
            base = () if name == "http_requests" else self.base
            lines.append(f"# TYPE {name}_total counter")
            lines += [f"{name}_total{_labels((*base, *labels))} {_number(v)}" for labels, v in sorted(series.items())]
        for name, value in sorted(self.gauges.items()):
            lines += [f"# TYPE {name} gauge", f"{name}{_labels(self.base)} {_number(value)}"]
        for name, hist in sorted(self.histograms.items()):
            lines.append(f"# TYPE {name} histogram")
            counts, total = hist.counts[()], hist.totals[()]
            for bound, count in zip(hist.buckets, counts, strict=True):
                lines.append(f"{name}_bucket{_labels(self.base, ('le', _number(bound)))} {count}")
            lines.append(f"{name}_bucket{_labels(self.base, ('le', '+Inf'))} {total}")
            lines.append(f"{name}_sum{_labels(self.base)} {_number(hist.sums[()])}")
            lines.append(f"{name}_count{_labels(self.base)} {total}")
        return "\n".join(lines) + "\n"
