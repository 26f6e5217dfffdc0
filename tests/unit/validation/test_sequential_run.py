"""Sequential stopping and pairing inside `quantop validate`: the draw, the stop checks, the pairing rules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.hostile import hostile_server

from quantop.api.status import GateKind, GateResult, ItemOutcomes, Verdict
from quantop.api.validation_request import ValidationRequest
from quantop.validation.accuracy import AccuracyResult, evaluate
from quantop.validation.dataset import Example, draw, load_dataset
from quantop.validation.gates import Thresholds, accuracy_gates, certain
from quantop.validation.load import LoadSettings, Sample, _stopper, measured_seconds
from quantop.validation.outcomes import fingerprint, pack
from quantop.validation.pipeline import _pairing
from quantop.validation.report import ValidationReport

EXAMPLES = [Example(id=str(i), prompt=f"Q{i}?", context="CREATE TABLE t (x);", answer="SELECT 1") for i in range(40)]


@pytest.mark.parametrize(("short", "long", "seed"), [(10, 40, 0), (1, 400, 3), (200, 400, 7), (0, 5, 1)])
def test_a_shorter_draw_is_the_start_of_a_longer_one(short: int, long: int, seed: int) -> None:
    """What makes a candidate pairable with a baseline that had another budget or stopped early."""
    examples = load_dataset("builtin:text-to-sql")
    assert draw(examples, short, seed) == draw(examples, long, seed)[:short]
    assert len({ex.id for ex in draw(examples, long, seed)}) == min(long, len(examples))


def test_the_draw_is_not_in_the_dataset_s_order() -> None:
    """A sequential test needs an order that says nothing of the items (the set may be sorted by topic)."""
    examples = load_dataset("builtin:text-to-sql")
    assert [ex.id for ex in draw(examples, 50, 0)] != [ex.id for ex in examples[:50]]
    assert draw(examples, 50, 0) != draw(examples, 50, 1)


def _gate(verdict: Verdict) -> GateResult:
    return GateResult(name="g", passed=verdict == Verdict.PASSED, verdict=verdict, kind=GateKind.LOAD, message="")


P, F, U = Verdict.PASSED, Verdict.FAILED, Verdict.INCONCLUSIVE


@pytest.mark.parametrize(
    ("verdicts", "stop"),
    [
        pytest.param([], False, id="no-gate-never-stops-early"),
        pytest.param([P], True, id="all-passed"),
        pytest.param([P, U], False, id="one-undecided"),
        pytest.param([U, F], True, id="a-failure-decides-the-validation"),
        pytest.param([U], False, id="only-undecided"),
    ],
)
def test_certain(verdicts: list[Verdict], stop: bool) -> None:
    assert certain([_gate(v) for v in verdicts]) is stop


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param({"started": 100.0, "stopped": 135.0}, 30.0, id="ran-the-budget"),
        pytest.param({"started": 100.0, "stopped": 140.0}, 30.0, id="stop-grace-not-counted"),
        pytest.param({"started": 100.0, "stopped": 125.0}, 20.0, id="stopped-early"),
        pytest.param({"started": 100.0, "stopped": 103.0}, 0.0, id="stopped-in-warmup"),
        pytest.param({"started": 100.0}, 30.0, id="older-generator-without-stopped"),
        pytest.param({"started": 100.0, "stopped": "soon"}, 30.0, id="junk-stopped"),
    ],
)
def test_measured_seconds(header: dict[str, Any], expected: float) -> None:
    assert measured_seconds(header, warmup_s=5.0, duration_s=30.0) == expected


def _live(path: Path, started: float, starts: Sequence[float]) -> None:
    lines = [json.dumps({"started": started})]
    lines += [
        json.dumps({"start": s, "e2e_ms": 10.0, "ttft_ms": 1.0, "itl_ms": 1.0, "tokens": 3, "ok": True}) for s in starts
    ]
    path.write_text("\n".join(lines) + "\n")


def _settings(asked: list[tuple[float, int]], answer: bool) -> LoadSettings:
    def certain_now(measured: float, samples: list[Sample]) -> bool:
        asked.append((measured, len(samples)))
        return answer

    return LoadSettings("http://x", 4, 60.0, 5.0, 8, ["q"], certain=certain_now)


@pytest.mark.parametrize(
    ("elapsed", "answer", "asked", "stopped"),
    [
        pytest.param([10.0, 20.0], True, [], False, id="not-before-the-floor"),
        pytest.param([25.0], True, [(20.0, 2)], True, id="certain-after-the-floor-stops"),
        pytest.param([25.0, 27.0, 31.0], False, [(20.0, 2), (26.0, 2)], False, id="asks-every-5-s-until-certain"),
    ],
)
def test_the_load_stops_once_certain_and_not_before_the_floor(
    tmp_path: Path, elapsed: list[float], answer: bool, asked: list[tuple[float, int]], stopped: bool
) -> None:
    live, stop = tmp_path / "live.jsonl", tmp_path / "stop"
    _live(live, 1000.0, [1002.0, 1006.0, 1010.0])  # the first started in warm-up: not measured
    seen: list[tuple[float, int]] = []
    on_progress = _stopper(_settings(seen, answer), live, stop)
    for e in elapsed:
        on_progress({"elapsed": e})
    assert seen == asked and stop.exists() is stopped


def test_an_unreadable_live_file_never_stops_the_load(tmp_path: Path) -> None:
    live, stop = tmp_path / "live.jsonl", tmp_path / "stop"
    live.write_text('{"started": 1000.0}\n{"start": 10')  # a line half written
    seen: list[tuple[float, int]] = []
    _stopper(_settings(seen, True), live, stop)({"elapsed": 30.0})
    assert not stop.exists() and seen == []


def _request(**gates: Any) -> ValidationRequest:
    return ValidationRequest.model_validate({"endpoint": "http://x", "accuracy": {"samples": 6}, "gates": gates})


FP = fingerprint(EXAMPLES)
BITS = [True, False, True, True, False, True]


def _report(outcomes: ItemOutcomes | None) -> ValidationReport:
    return ValidationReport(
        label="base", endpoint="http://x", started_at="", finished_at="", verdict=Verdict.PASSED, message="",
        outcomes=outcomes,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("gates", "baseline", "paired", "unpaired"),
    [
        pytest.param({}, None, None, None, id="no-baseline"),
        pytest.param({"baselineOutcomes": f"{FP}:0:101101"}, None, BITS, None, id="flag-same-dataset"),
        pytest.param({"baselineOutcomes": "101101"}, None, BITS, None, id="flag-dataset-not-given"),
        pytest.param({"baselineOutcomes": "1011"}, None, BITS[:4], None, id="baseline-stopped-early"),
        pytest.param(
            {"baselineOutcomes": "0123456789abcdef:0:101101"},
            None,
            None,
            "dataset version",
            id="other-dataset",
        ),
        pytest.param({"baselineOutcomes": f"{FP}:9:101101"}, None, None, "seed 9", id="other-seed"),
        pytest.param({}, pack(BITS, FP, 0), BITS, None, id="baseline-report"),
        pytest.param({}, pack(BITS, "f" * 16, 0), None, "dataset version", id="baseline-report-other-dataset"),
        pytest.param(
            {}, ItemOutcomes(dataset=FP, seed=0, items=6, correct="!!"), None, "not base64", id="broken-report-record"
        ),
    ],
)
def test_pairing(
    gates: dict[str, Any], baseline: ItemOutcomes | None, paired: list[bool] | None, unpaired: str | None
) -> None:
    p = _pairing(_request(**gates), FP, _report(baseline) if baseline else None)
    assert p.outcomes == paired
    assert (p.unpaired is None) if unpaired is None else (p.unpaired is not None and unpaired in p.unpaired)
    if unpaired and "base64" not in unpaired:
        assert p.fallback_accuracy == pytest.approx(4 / 6)  # the one-sample bound falls back to this, and says so


def test_a_refused_pairing_says_why_in_the_gate() -> None:
    items = [True] * 300
    acc = AccuracyResult("m", 300, 300, {}, {})
    t = Thresholds(baseline_accuracy=0.7, max_accuracy_drop=0.05)
    (gate,) = accuracy_gates(acc, t, items, None, in_order=True, unpaired="not paired: dataset version v1")
    assert "one-sample: not paired: dataset version v1" in gate.message and gate.losses is None


def test_paired_on_the_items_both_scored() -> None:
    candidate = [True] * 200
    acc = AccuracyResult("m", 200, 200, {}, {})
    (gate,) = accuracy_gates(acc, Thresholds(max_accuracy_drop=0.05), candidate, [True] * 120, in_order=True)
    assert gate.n == 120 and "(the baseline scored 120)" in gate.message


def test_in_order_outcomes_are_judged_in_the_order_given() -> None:
    """A run that stopped after a certain prefix must be judged on that order, not a reshuffled one."""
    baseline = [True] * 100 + [False] * 100
    candidate = [False] * 100 + [False] * 100  # loses the first 100 items: proven worse early in this order
    acc = AccuracyResult("m", 200, 100, {}, {})
    (gate,) = accuracy_gates(acc, Thresholds(max_accuracy_drop=0.05), candidate, baseline, in_order=True)
    assert gate.verdict == Verdict.FAILED and gate.losses == 100 and gate.gains == 0


ANSWER = json.dumps({"generated_text": "SELECT 1"}).encode()


@pytest.mark.parametrize(
    ("stop_after", "scored"),
    [
        pytest.param(None, 40, id="no-stop-scores-all"),
        pytest.param(8, 8, id="stops-after-the-round-that-decided"),
        pytest.param(9, 12, id="checked-after-each-round-of-concurrency"),
        pytest.param(1000, 40, id="never-certain-scores-all"),
    ],
)
async def test_accuracy_stops_after_the_round_that_made_it_certain(stop_after: int | None, scored: int) -> None:
    asked: list[int] = []

    def stop(outcomes: Sequence[bool]) -> bool:
        asked.append(len(outcomes))
        return stop_after is not None and len(outcomes) >= stop_after

    with hostile_server({"/generate": lambda h: h.reply(200, ANSWER)}) as url:
        result = await evaluate(
            url, EXAMPLES, metric="execution-accuracy", concurrency=4, stop=stop if stop_after else None
        )
    assert result.samples == scored and result.planned == 40 and result.outcomes == [True] * scored
    assert asked == ([] if stop_after is None else list(range(4, scored + 1, 4))[: len(asked)])
