"""PNG plots for the README and docs: latency CDF per configuration, latency vs accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .report import ValidationReport


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display in a Job or CI
    import matplotlib.pyplot as plt

    return plt


def latency_cdf(reports: Sequence[ValidationReport], path: Path, slo_ms: float | None = None) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in reports:
        values = sorted(r.load.latencies_ms) if r.load else []
        if values:
            ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post", label=r.label)
    if slo_ms:
        ax.axvline(slo_ms, color="red", linestyle="--", linewidth=1, label=f"p95 SLO {slo_ms:.0f} ms")
    ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("end-to-end latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Latency CDF per configuration")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_vs_accuracy(reports: Sequence[ValidationReport], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    placed: list[tuple[float, float]] = []
    for r in reports:
        if r.load and "p95" in r.load.latency_ms and r.accuracy:
            p95, acc = r.load.latency_ms["p95"].value, r.accuracy
            ax.errorbar(
                p95,
                acc.accuracy,
                yerr=[[max(acc.accuracy - acc.ci_low, 0.0)], [max(acc.ci_high - acc.accuracy, 0.0)]],
                fmt="o" if r.verdict.value == "Passed" else "x",
                capsize=3,
            )
            # Labels of points close together are stacked, or configurations with equal accuracy overlap.
            near = sum(1 for x, y in placed if abs(x - p95) < 0.06 * p95 and abs(y - acc.accuracy) < 0.02)
            placed.append((p95, acc.accuracy))
            offset = (6, 6 + 11 * near)
            ax.annotate(r.label, (p95, acc.accuracy), textcoords="offset points", xytext=offset, fontsize=8)
    ax.set_xlabel("p95 latency (ms)")
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title("Latency vs accuracy (o passed, x failed)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
