"""The emulator's wrong answers: plausible rewrites of a gold query whose rows differ from the gold's."""

from __future__ import annotations

from quantop.sandbox.tgi_emulator.sql_variants import wrong_sql_variants
from quantop.validation.dataset import load_dataset
from quantop.validation.scoring import execution_match


def test_wrong_variants_of_simple_queries() -> None:
    variants = wrong_sql_variants("SELECT name FROM t WHERE score > 1 ORDER BY id ASC LIMIT 2;")
    assert "SELECT name FROM t WHERE score < 1 ORDER BY id ASC LIMIT 2;" in variants
    assert "SELECT name FROM t WHERE score > 1 ORDER BY id DESC LIMIT 2;" in variants
    assert "SELECT name FROM t WHERE score > 1 ORDER BY id ASC LIMIT 3;" in variants
    assert "SELECT name FROM t ORDER BY id ASC LIMIT 2;" in variants
    assert "SELECT AVG(score) FROM t" in wrong_sql_variants("SELECT SUM(score) FROM t")
    assert "SELECT name FROM t WHERE team = 'x'" in wrong_sql_variants("SELECT name FROM t WHERE id > 1 AND team = 'x'")
    assert "SELECT 1 FROM t WHERE x > 5" not in wrong_sql_variants("SELECT 1 FROM t WHERE x > 5")


def test_wrong_variants_give_a_wrong_answer_for_nearly_every_builtin_question() -> None:
    examples = load_dataset("builtin:text-to-sql")
    covered = 0
    for ex in examples:
        results = [execution_match(ex.context, ex.answer, v) for v in wrong_sql_variants(ex.answer)]
        covered += any(not r.correct and r.error is None for r in results)
    assert covered >= 0.95 * len(examples)
