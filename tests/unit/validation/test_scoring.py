"""Scoring: SQL extraction from chatty answers, execution accuracy on tricky SQL, metrics, intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantop.validation.dataset import Example, load_dataset
from quantop.validation.scoring import (
    ExecutionResult,
    exact_match,
    execution_match,
    extract_sql,
    normalize_sql,
    prompt_for,
    score_answer,
)
from quantop.validation.stats import wilson_interval

CONTEXT = (
    "CREATE TABLE t (id INTEGER, name TEXT, score REAL, team TEXT);"
    "INSERT INTO t VALUES (1, 'a', 1.0, 'x'), (2, 'b', NULL, 'x'), (3, 'c', 2.5, 'y'), (4, 'c', 2.5, 'y');"
)
COUNT_TO_A_BILLION = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"


@pytest.mark.parametrize(
    ("gold", "predicted", "correct"),
    [
        pytest.param("SELECT name FROM t ORDER BY id DESC", "SELECT name FROM t", False, id="gold-ordered"),
        pytest.param("SELECT name FROM t", "SELECT name FROM t ORDER BY id DESC", True, id="gold-unordered"),
        pytest.param("SELECT name FROM t ORDER BY id DESC LIMIT 2", "SELECT name FROM t LIMIT 2", False, id="top-k"),
        pytest.param(
            "SELECT id, RANK() OVER (ORDER BY id) FROM t",
            "SELECT id, RANK() OVER (ORDER BY id) FROM t ORDER BY id DESC",
            True,
            id="order-by-in-window-only",
        ),
        pytest.param("SELECT score FROM t", "SELECT score FROM t ORDER BY score", True, id="nulls"),
        pytest.param(
            "SELECT name FROM t WHERE score IS NULL", "SELECT name FROM t WHERE score = NULL", False, id="=null"
        ),
        pytest.param("SELECT COUNT(*) AS n FROM t", "SELECT COUNT(*) AS total FROM t", True, id="aliases"),
        pytest.param("SELECT COUNT(*) FROM t", "select   count( * )\n  from T ;\n", True, id="whitespace-case"),
        pytest.param("SELECT COUNT(*) FROM t;", "SELECT COUNT(*) FROM t", True, id="semicolon"),
        pytest.param("SELECT 1", "SELECT 1.0", True, id="int-vs-float"),
        pytest.param("SELECT 0.3", "SELECT 0.1 + 0.2", True, id="float-rounding"),
        pytest.param("SELECT AVG(score) FROM t", "SELECT ROUND(AVG(score), 6) FROM t", True, id="six-digits"),
        pytest.param("SELECT 1.5", "SELECT 1.6", False, id="different-float"),
        pytest.param("SELECT name FROM t", "SELECT DISTINCT name FROM t", False, id="duplicates-matter"),
        pytest.param("SELECT name, id FROM t", "SELECT name FROM t", False, id="fewer-columns"),
        pytest.param("SELECT 'a;b'", "SELECT 'a;b';", True, id="semicolon-in-string"),
        pytest.param("SELECT name FROM t WHERE team = 'x'", "SELECT name FROM t WHERE team = 'X'", False, id="case"),
    ],
)
def test_execution_match(gold: str, predicted: str, correct: bool) -> None:
    assert execution_match(CONTEXT, gold, predicted) == execution_match(CONTEXT, gold, predicted)
    result = execution_match(CONTEXT, gold, predicted)
    assert result.correct is correct
    assert result.error is None


@pytest.mark.parametrize(
    ("predicted", "error"),
    [
        pytest.param("SELECT * FROM nope", "no such table: nope", id="wrong-table"),
        pytest.param("SELEC name FROM t", "syntax error", id="syntax"),
        pytest.param("SELECT 1; SELECT 2", "only one SQL statement", id="two-statements"),
        pytest.param("SELECT 1; DROP TABLE t;", "only one SQL statement", id="drop-after"),
        pytest.param("DELETE FROM t", "not authorized", id="delete"),
        pytest.param("", "no SQL query", id="empty"),
        pytest.param(";;", "no SQL query", id="only-semicolons"),
        pytest.param("PRAGMA table_info(t)", "not authorized", id="pragma"),
    ],
)
def test_execution_errors(predicted: str, error: str) -> None:
    result = execution_match(CONTEXT, "SELECT COUNT(*) FROM t", predicted)
    assert not result.correct
    assert result.error is not None and error in result.error


def test_a_predicted_delete_does_not_touch_the_gold() -> None:
    gold = "SELECT COUNT(*) FROM t"
    assert not execution_match(CONTEXT, gold, "DELETE FROM t").correct
    # Even without the read-only guard each query gets its own database, so the gold still sees 4 rows.
    assert execution_match(CONTEXT, gold, "SELECT 4").correct


def test_attach_cannot_write_a_file(tmp_path: Path) -> None:
    target = tmp_path / "stolen.db"
    result = execution_match(CONTEXT, "SELECT 1", f"ATTACH DATABASE '{target}' AS stolen")
    assert not result.correct and "not authorized" in (result.error or "")
    assert not target.exists()


def test_runaway_query_times_out() -> None:
    result = execution_match(CONTEXT, "SELECT 1", COUNT_TO_A_BILLION, timeout_s=0.2)
    assert result == ExecutionResult(False, "timeout")


def test_broken_gold_or_context_is_reported_as_such() -> None:
    assert "gold query failed" in (execution_match(CONTEXT, "SELECT * FROM nope", "SELECT 1").error or "")
    assert "sql_context does not load" in (execution_match("CREATE TABL x;", "SELECT 1", "SELECT 1").error or "")


@pytest.mark.parametrize(
    ("answer", "sql"),
    [
        pytest.param("```sql\nSELECT 1;\n```", "SELECT 1", id="fenced-sql"),
        pytest.param("Here it is:\n```\nSELECT a\nFROM t\n```\nThis selects a.", "SELECT a\nFROM t", id="fenced"),
        pytest.param("```SELECT 2```", "SELECT 2", id="fenced-one-line"),
        pytest.param("```python\nprint(1)\n```\n```sqlite\nSELECT 3\n```", "SELECT 3", id="second-block"),
        pytest.param("```sql\nSELECT 4 FROM t", "SELECT 4 FROM t", id="unclosed-fence"),
        pytest.param("SQL: SELECT name FROM t;", "SELECT name FROM t", id="sql-prefix"),
        pytest.param("**SQL query:**\nSELECT 5", "SELECT 5", id="label-line"),
        pytest.param(
            "To answer this we count rows.\nSELECT COUNT(*)\nFROM t\n  WHERE x > 1;\nThis query counts them.",
            "SELECT COUNT(*)\nFROM t\n  WHERE x > 1",
            id="prose-around",
        ),
        pytest.param("SELECT * FROM t\nThis returns every row.", "SELECT * FROM t", id="trailing-explanation"),
        pytest.param("select a from t ; -- done", "select a from t", id="comment-after"),
        pytest.param("SELECT 1; This is the answer.", "SELECT 1", id="prose-after-semicolon"),
        pytest.param("SELECT 1; DROP TABLE t", "SELECT 1; DROP TABLE t", id="second-statement-kept"),
        pytest.param("The answer is `SELECT 6`.", "SELECT 6", id="inline-code"),
        pytest.param("  SELECT 7;  </s>", "SELECT 7", id="eos-token"),
        pytest.param("With the schema above, the query is:\nSELECT 8", "SELECT 8", id="prose-starting-like-sql"),
        pytest.param("Select name from t", "Select name from t", id="capitalised-sql"),
        pytest.param("I don't know.", "I don't know.", id="no-sql"),
    ],
)
def test_extract_sql(answer: str, sql: str) -> None:
    assert extract_sql(answer) == sql


def test_normalize_and_exact_match() -> None:
    assert normalize_sql("SELECT  Name\nFROM t WHERE name = 'Bob' ;") == "select name from t where name = 'Bob'"
    assert normalize_sql("SELECT COUNT( * ) FROM t -- all\n;") == "select count(*) from t"
    assert exact_match("SELECT COUNT(*) FROM t", "select count( * )\nfrom t;")
    assert not exact_match("SELECT * FROM t WHERE n = 'bob'", "SELECT * FROM t WHERE n = 'Bob'")


EXAMPLE = Example(id="1", prompt="How many rows?", context=CONTEXT, answer="SELECT COUNT(*) FROM t")


@pytest.mark.parametrize(
    ("metric", "answer", "expected", "answer_text"),
    [
        ("execution-accuracy", EXAMPLE.answer, True, "```sql\nSELECT count(id) AS n FROM t;\n```"),
        ("execution-accuracy", EXAMPLE.answer, False, "SELECT COUNT(*) FROM t WHERE score > 1"),
        ("exact-match", EXAMPLE.answer, True, "SQL: select count(*) from t;"),
        ("exact-match", EXAMPLE.answer, False, "SELECT COUNT(id) FROM t"),
        ("exact", "Paris", True, "  paris \n"),
        ("exact", "Paris", False, "Paris, France"),
        ("contains", "Paris", True, "The capital is PARIS."),
        ("contains", "Paris", False, "Lyon"),
        ("regex", r"\b4\b", True, "There are 4 rows."),
        ("regex", r"\b4\b", False, "There are 40 rows."),
    ],
)
def test_score_answer(metric: str, answer: str, expected: bool, answer_text: str) -> None:
    example = Example(id="1", prompt="q", context=CONTEXT, answer=answer)
    assert score_answer(metric, example, answer_text).correct is expected


def test_score_answer_rejects_unknown_metrics_and_reports_bad_regexes() -> None:
    with pytest.raises(ValueError, match="known metrics: execution-accuracy, exact-match, exact, contains, regex"):
        score_answer("bleu", EXAMPLE, "x")
    result = score_answer("regex", Example(id="7", prompt="q", context="", answer="(unclosed"), "x")
    assert not result.correct and "invalid regex in example 7" in (result.error or "")


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634), (81, 100, 0.7222, 0.8749), (0, 0, 0, 1)],
)
def test_wilson_interval(successes: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-4)


def test_prompt_has_the_schema_and_the_question_on_its_own_line() -> None:
    prompt = prompt_for(EXAMPLE)
    assert "Question: How many rows?" in prompt.splitlines()
    assert "CREATE TABLE t (id INTEGER, name TEXT, score REAL, team TEXT);" in prompt
    assert "INSERT" not in prompt
    assert "one SQLite query" in prompt


def test_every_builtin_gold_query_matches_itself() -> None:
    for ex in load_dataset("builtin:text-to-sql"):
        assert execution_match(ex.context, ex.answer, ex.answer).correct, ex.answer
