"""Decision quality: how often the gates promote what they should not, fail what they should not, or cannot tell.

Randomized scenarios put the truth around each threshold; each scenario is one simulated
validation run, judged twice on the same samples: by the real decision functions
(quantop.validation.paired / slo, sequential, stopping at the first certain look) and by the
point-estimate rule quantop used before (drop or p95 compared with the threshold once, after
the whole budget). Every figure below comes from simulated samples through those functions;
none from runs of `quantop validate` against the emulator (too slow for hundreds of runs on a
small machine). Figures are printed, never asserted.

Indifference zones (where either verdict is acceptable): an accuracy drop within 1 point of
maxAccuracyDrop; a true p95 within 3% of the SLO. Outside them, Failed for a good candidate
and Passed for a bad one are wrong verdicts; Inconclusive is not wrong (it ends as
validation.onInconclusive says, Fail by default) but is counted apart.

Usage: python bench/bench_decisions.py [--scenarios N] [--seed S]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from quantop.api.status import Verdict
from quantop.validation.paired import paired_drop
from quantop.validation.slo import Batching, rate_stopped

CONFIDENCE = 0.95
BASE_ACCURACY = 0.70
ACCURACY_ZONE = 0.01
LATENCY_ZONE = 0.03
#: The guide's load: 100 users, about 5.6 s per request, so about 18 requests per second.
USERS, REQUEST_S, FIXED_MINUTES = 100, 5.6, 5.0
Z95 = 1.6448536269514722


@dataclass
class Outcome:
    truth: str  # good, bad or zone
    new: Verdict
    old: Verdict
    cost: float  # items or GPU-minutes spent until the new rule's verdict
    bad_side: bool  # truly worse than the threshold (any amount)


def accuracy_scenario(rng: np.random.Generator) -> Outcome:
    margin = float(rng.choice([0.02, 0.05]))
    n = int(rng.choice([200, 400, 1000]))
    drop = float(rng.uniform(-0.02, 2.5 * margin))
    discordance = float(rng.uniform(max(abs(drop), 0.01), max(abs(drop), 0.01) + 0.10))
    loss, gain = (discordance + drop) / 2, (discordance - drop) / 2
    u = rng.random(n)
    base = rng.random(n) < BASE_ACCURACY
    cand = base.copy()
    cand[base & (u < loss / BASE_ACCURACY)] = False
    cand[~base & (u < gain / (1 - BASE_ACCURACY))] = True
    d = paired_drop(base.tolist(), cand.tolist(), margin, CONFIDENCE)
    measured = float(base.mean() - cand.mean())
    old = Verdict.PASSED if measured <= margin + 1e-12 else Verdict.FAILED
    truth = "zone" if abs(drop - margin) <= ACCURACY_ZONE else ("good" if drop < margin else "bad")
    return Outcome(truth, d.verdict, old, float(d.decided_at or n), drop > margin)


def correlated_normal(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    e = rng.standard_normal(n)
    z = np.empty(n)
    z[0] = e[0]
    scale = math.sqrt(1 - phi**2)
    for i in range(1, n):
        z[i] = phi * z[i - 1] + scale * e[i]
    return z


def latency_scenario(rng: np.random.Generator) -> Outcome:
    slo = 6000.0
    ratio = float(rng.uniform(0.85, 1.15))  # true p95 / SLO
    sigma = float(rng.uniform(0.05, 0.12))  # the guide's spread (p95/median 1.08-1.2)
    phi = float(rng.choice([0.0, 0.3, 0.6]))
    n = int(FIXED_MINUTES * 60 * USERS / REQUEST_S)
    z = correlated_normal(rng, n, phi)
    median = ratio * slo / math.exp(Z95 * sigma)
    latencies = median * np.exp(sigma * z)
    batching = Batching(size=USERS, planned=n / USERS)
    d = rate_stopped(latencies > slo, 0.05, CONFIDENCE, batching)
    old = Verdict.PASSED if float(np.percentile(latencies, 95)) <= slo else Verdict.FAILED
    truth = "zone" if abs(ratio - 1) <= LATENCY_ZONE else ("good" if ratio < 1 else "bad")
    requests = (d.decided_at or batching.planned) * batching.size
    return Outcome(truth, d.verdict, old, requests * REQUEST_S / USERS / 60, ratio > 1)


def rates(outcomes: list[Outcome], rule: str) -> dict[str, float]:
    def verdict(o: Outcome) -> Verdict:
        return o.new if rule == "new" else o.old

    outside = [o for o in outcomes if o.truth != "zone"]
    wrong = [
        o
        for o in outside
        if (o.truth == "good" and verdict(o) == Verdict.FAILED) or (o.truth == "bad" and verdict(o) == Verdict.PASSED)
    ]
    bad = [o for o in outcomes if o.bad_side]
    return {
        "wrong verdicts outside the zone": len(wrong) / max(len(outside), 1),
        "false promotions (truly worse)": sum(verdict(o) == Verdict.PASSED for o in bad) / max(len(bad), 1),
        "inconclusive": sum(verdict(o) == Verdict.INCONCLUSIVE for o in outcomes) / len(outcomes),
        "good candidates promoted": sum(verdict(o) == Verdict.PASSED for o in outcomes if o.truth == "good")
        / max(sum(o.truth == "good" for o in outcomes), 1),
    }


def table(title: str, outcomes: list[Outcome], cost_label: str, fixed_cost: str) -> None:
    new, old = rates(outcomes, "new"), rates(outcomes, "old")
    counts = {k: sum(o.truth == k for o in outcomes) for k in ("good", "zone", "bad")}
    print(
        f"\n{title}: {len(outcomes)} scenarios ({counts['good']} good, {counts['zone']} in the zone, {counts['bad']} bad)"
    )
    print(f"| {'figure':40} | {'sequential three-way':>20} | {'point estimate (old)':>20} |")
    print(f"|{'-' * 42}|{'-' * 22}|{'-' * 22}|")
    for key in new:
        print(f"| {key:40} | {new[key]:>20.1%} | {old[key]:>20.1%} |")
    clear = [o.cost for o in outcomes if o.truth != "zone" and o.new != Verdict.INCONCLUSIVE]
    decided = [o.cost for o in outcomes if o.new != Verdict.INCONCLUSIVE]
    med_clear = statistics.median(clear) if clear else float("nan")
    med_all = statistics.median(decided) if decided else float("nan")
    print(f"| {'median ' + cost_label + ', clear cases':40} | {med_clear:>20.2f} | {fixed_cost:>20} |")
    print(f"| {'median ' + cost_label + ', decided':40} | {med_all:>20.2f} | {fixed_cost:>20} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=1000, help="scenarios per gate (default 1000)")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.monotonic()
    accuracy = [accuracy_scenario(rng) for _ in range(args.scenarios)]
    latency = [latency_scenario(rng) for _ in range(args.scenarios)]
    print(f"confidence {CONFIDENCE} (alpha {1 - CONFIDENCE:.2f} per side); figures from simulated samples")
    print(
        f"accuracy: baseline {BASE_ACCURACY}, maxAccuracyDrop 0.02 or 0.05, 200/400/1000 paired items, "
        f"true drop -2 points to 2.5 x margin, discordance |drop| to |drop| + 10 points; zone: margin +/- {ACCURACY_ZONE}"
    )
    table("Accuracy gate (paired)", accuracy, "items to verdict", "all items")
    print(
        f"\nlatency: p95 SLO 6000 ms, true p95 0.85-1.15 x SLO, lognormal spread 0.05-0.12, lag-1 correlation "
        f"0-0.6, {USERS} users, budget {FIXED_MINUTES:g} min; zone: SLO +/- {LATENCY_ZONE:.0%}"
    )
    table("Latency gate (p95)", latency, "GPU-minutes of load", f"{FIXED_MINUTES:.2f}")
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
