"""Per-item accuracy outcomes kept compactly, and the checks before a candidate is paired with them.

A candidate is paired with its baseline only on the very same items: same dataset version
(fingerprint), same seed, same number drawn. Anything else is refused with a message, not
compared, because pairing different items would report a difference that is not there.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from quantop.api.status import ItemOutcomes

from .dataset import Example

#: Beyond this many items the bitset no longer fits beside the rest of the 4 KiB termination message.
MAX_ITEMS = 12_000


def fingerprint(examples: Sequence[Example]) -> str:
    """The dataset version: a hash of every example's id, prompt and answer, in order."""
    h = hashlib.sha256()
    for ex in examples:
        for part in (ex.id, ex.prompt, ex.answer):
            h.update(part.encode())
            h.update(b"\0")
    return h.hexdigest()[:16]


def pack(correct: Sequence[bool], dataset: str, seed: int) -> ItemOutcomes | None:
    """The compact record; None when too many items to carry (the next candidate gets a one-sample bound)."""
    if len(correct) > MAX_ITEMS:
        return None
    bits = bytearray((len(correct) + 7) // 8)
    for i, ok in enumerate(correct):
        if ok:
            bits[i // 8] |= 1 << (i % 8)
    return ItemOutcomes(dataset=dataset, seed=seed, items=len(correct), correct=base64.b64encode(bytes(bits)).decode())


def unpack(outcomes: ItemOutcomes) -> list[bool]:
    """The per-item results in draw order; ValueError on a record that does not decode to its item count."""
    try:
        bits = base64.b64decode(outcomes.correct, validate=True)
    except ValueError:
        raise ValueError("baseline outcomes: not base64") from None
    if len(bits) != (outcomes.items + 7) // 8:
        raise ValueError(f"baseline outcomes: {len(bits)} bytes for {outcomes.items} items")
    return [bool(bits[i // 8] >> (i % 8) & 1) for i in range(outcomes.items)]


def as_flag(outcomes: ItemOutcomes) -> str | None:
    """The `--baseline-outcomes` form, DATASET:SEED:0110... (1 right, 0 wrong, in draw order), so the
    run checks it scores the same items; None when there is nothing to pair with (no items)."""
    bits = "".join("1" if ok else "0" for ok in unpack(outcomes))
    return f"{outcomes.dataset}:{outcomes.seed}:{bits}" if bits else None


def pairing_refusal(baseline: ItemOutcomes, dataset: str, seed: int, items: int) -> str | None:
    """Why the candidate cannot be paired with this baseline (one line), or None when it can.

    Items are scored in draw order (`dataset.draw`), so any two runs of one dataset version and
    seed scored the same first items: they are paired on the items both scored, whatever their
    budgets (`items` is this run's budget, only for the message).
    """
    if baseline.dataset != dataset:
        return (
            f"the baseline was scored on dataset version {baseline.dataset}, this run on {dataset}: "
            "re-validate the baseline on the same dataset, or compare against baseline.accuracy"
        )
    if baseline.seed != seed:
        return (
            f"the baseline's items were drawn with seed {baseline.seed}, this run's {items} with seed {seed}: "
            "use the baseline's validation.accuracy seed"
        )
    if baseline.items == 0:
        return "the baseline scored no items: there is nothing to pair with"
    return None
