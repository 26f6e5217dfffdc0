"""TGI's router metrics, written in the exposition format TGI's exporter produces.

TGI uses the Rust `metrics-exporter-prometheus` crate, which names counters without a
`_total` suffix and sets histogram buckets per name (router/src/server.rs): every `*duration`
histogram has 35 geometric buckets from 0.00015 s (x1.5), token-count histograms have 100
linear buckets up to the token limit, `tgi_batch_next_size` has buckets 1..1024. Emitting the
same names, types, labels and buckets lets the rules and dashboards be tested against it.
"""

from __future__ import annotations

from collections import defaultdict

DURATION_BUCKETS = tuple(0.00015 * 1.5**i for i in range(35))
BATCH_SIZE_BUCKETS = tuple(float(2**i) for i in range(11))


def linear_buckets(limit: int, count: int = 100) -> tuple[float, ...]:
    step = max(limit / count, 1.0)
    return tuple(step * (i + 1) for i in range(count))


Labels = tuple[tuple[str, str], ...]


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts: dict[Labels, list[int]] = defaultdict(lambda: [0] * len(buckets))
        self.sums: dict[Labels, float] = defaultdict(float)
        self.totals: dict[Labels, int] = defaultdict(int)

    def observe(self, value: float, labels: Labels = ()) -> None:
        counts = self.counts[labels]
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        self.sums[labels] += value
        self.totals[labels] += 1


def _labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    items = [*labels, *([extra] if extra else [])]
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in items) + "}"


def _number(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class TgiMetrics:
    """The subset of TGI's metrics a single-shard emulator can produce truthfully."""

    def __init__(self, max_input_tokens: int, max_total_tokens: int, max_batch_total_tokens: int) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, float] = {
            "tgi_queue_size": 0,
            "tgi_batch_current_size": 0,
            "tgi_batch_current_max_tokens": 0,
            "tgi_batch_max_total_tokens": max_batch_total_tokens,
        }
        self.histograms: dict[str, Histogram] = {
            "tgi_request_duration": Histogram(DURATION_BUCKETS),
            "tgi_request_validation_duration": Histogram(DURATION_BUCKETS),
            "tgi_request_queue_duration": Histogram(DURATION_BUCKETS),
            "tgi_request_inference_duration": Histogram(DURATION_BUCKETS),
            "tgi_request_mean_time_per_token_duration": Histogram(DURATION_BUCKETS),
            "tgi_request_input_length": Histogram(linear_buckets(max_input_tokens)),
            "tgi_request_generated_tokens": Histogram(linear_buckets(max_total_tokens)),
            "tgi_request_max_new_tokens": Histogram(linear_buckets(max_total_tokens)),
            "tgi_batch_next_size": Histogram(BATCH_SIZE_BUCKETS),
            "tgi_batch_inference_duration": Histogram(DURATION_BUCKETS),
        }
        for name in ("tgi_request_count", "tgi_request_success"):
            self.counters[name][()] = 0
        for method in ("prefill", "decode"):
            for name in ("tgi_batch_inference_count", "tgi_batch_inference_success"):
                self.counters[name][(("method", method),)] = 0

    def inc(self, name: str, labels: Labels = (), by: float = 1) -> None:
        self.counters[name][labels] += by

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        self.histograms[name].observe(value, labels)

    def render(self) -> str:
        lines: list[str] = []
        for name, series in sorted(self.counters.items()):
            lines.append(f"# TYPE {name} counter")
            lines += [f"{name}{_labels(labels)} {_number(v)}" for labels, v in sorted(series.items())]
        for name, value in sorted(self.gauges.items()):
            lines += [f"# TYPE {name} gauge", f"{name} {_number(value)}"]
        for name, hist in sorted(self.histograms.items()):
            if not hist.totals:
                continue  # the exporter registers a histogram on its first observation
            lines.append(f"# TYPE {name} histogram")
            for labels in sorted(hist.totals):
                for bound, count in zip(hist.buckets, hist.counts[labels], strict=True):
                    lines.append(f"{name}_bucket{_labels(labels, ('le', _number(bound)))} {count}")
                lines.append(f"{name}_bucket{_labels(labels, ('le', '+Inf'))} {hist.totals[labels]}")
                lines.append(f"{name}_sum{_labels(labels)} {_number(hist.sums[labels])}")
                lines.append(f"{name}_count{_labels(labels)} {hist.totals[labels]}")
        return "\n".join(lines) + "\n"
