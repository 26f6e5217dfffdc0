"""Baseline outcomes kept compactly, and the refusals before pairing."""

from __future__ import annotations

import pytest

from quantop.api.status import ItemOutcomes, ValidationResults
from quantop.api.validation_request import Gates
from quantop.validation.dataset import load_dataset
from quantop.validation.outcomes import MAX_ITEMS, as_flag, fingerprint, pack, pairing_refusal, unpack
from quantop.validation.report import termination_message


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 400, 4001])
def test_pack_round_trips(n: int) -> None:
    correct = [(i * 7) % 10 < 7 for i in range(n)]
    packed = pack(correct, "abc", 0)
    assert packed is not None and unpack(packed) == correct
    bits = "".join("1" if c else "0" for c in correct)
    assert as_flag(packed) == (f"abc:0:{bits}" if n else None)
    if n:  # what the Job is given parses back into the same record
        parts = Gates(baseline_outcomes=as_flag(packed)).baseline_parts()
        assert parts == ("abc", 0, bits)


def test_400_items_are_small_and_the_largest_still_fit_the_termination_message() -> None:
    small = pack([True] * 400, "abc", 0)
    assert small is not None and len(small.correct) == 68
    big = pack([True] * MAX_ITEMS, "0123456789abcdef", 0)
    assert big is not None
    assert len(termination_message(ValidationResults(outcomes=big, message="x" * 300)).encode()) < 4096
    assert pack([True] * (MAX_ITEMS + 1), "abc", 0) is None


@pytest.mark.parametrize(
    ("record", "error"),
    [
        pytest.param(ItemOutcomes(dataset="d", seed=0, items=9, correct="!!"), "not base64", id="not-base64"),
        pytest.param(ItemOutcomes(dataset="d", seed=0, items=100, correct="AAAA"), "3 bytes for 100 items", id="short"),
    ],
)
def test_a_broken_record_is_refused_with_a_message(record: ItemOutcomes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        unpack(record)


def test_fingerprint_changes_with_the_dataset_version() -> None:
    examples = load_dataset("builtin:text-to-sql")
    changed = [examples[0].__class__(**{**vars(examples[0]), "answer": "SELECT 2"}), *examples[1:]]
    assert fingerprint(examples) == fingerprint(list(examples))
    assert fingerprint(changed) != fingerprint(examples)


BASE = ItemOutcomes(dataset="v1", seed=0, items=400, correct="")


@pytest.mark.parametrize(
    ("dataset", "seed", "items", "needle"),
    [
        pytest.param("v1", 0, 400, None, id="same-items"),
        pytest.param("v2", 0, 400, "dataset version v1, this run on v2", id="dataset-changed"),
        pytest.param("v1", 0, 200, None, id="fewer-items-paired-on-the-common-prefix"),
        pytest.param("v1", 0, 1000, None, id="more-items-paired-on-the-common-prefix"),
        pytest.param("v1", 1, 400, "drawn with seed 0, this run's 400 with seed 1", id="other-seed"),
    ],
)
def test_pairing_refusal(dataset: str, seed: int, items: int, needle: str | None) -> None:
    refusal = pairing_refusal(BASE, dataset, seed, items)
    assert refusal is None if needle is None else refusal is not None and needle in refusal


def test_a_baseline_that_scored_nothing_is_not_paired() -> None:
    assert pairing_refusal(ItemOutcomes(dataset="v1", seed=0, items=0, correct=""), "v1", 0, 400) is not None


def test_outcomes_give_way_before_the_termination_message_breaks() -> None:
    big = pack([True] * MAX_ITEMS, "0123456789abcdef", 0)
    from quantop.api.status import GateResult

    crowded = ValidationResults(
        outcomes=big,
        gates=[GateResult(name=f"gate{i}", passed=True, estimate=1.0, lower=0.5, upper=2.0) for i in range(40)],
    )
    text = termination_message(crowded)
    assert len(text.encode()) <= 4096 and ValidationResults.model_validate_json(text).outcomes is None
