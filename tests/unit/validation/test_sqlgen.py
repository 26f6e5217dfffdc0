"""The built-in held-out set: reproducible from its seed, and every gold query answers something."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from quantop.validation.dataset import BUILTIN
from quantop_build import sqlgen

COMMITTED = BUILTIN["text-to-sql"]
REGENERATE = "PYTHONPATH=tools python -m quantop_build.sqlgen --out operator/quantop/validation/data/text-to-sql.jsonl"
GRETEL_FIELDS = {
    "id",
    "domain",
    "domain_description",
    "sql_complexity",
    "sql_complexity_description",
    "sql_task_type",
    "sql_task_type_description",
    "sql_prompt",
    "sql_context",
    "sql",
    "sql_explanation",
}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in COMMITTED.read_text().splitlines()]


def test_committed_file_is_what_the_generator_writes() -> None:
    assert COMMITTED.read_bytes() == sqlgen.dumps(sqlgen.generate()).encode(), (
        f"{COMMITTED} is out of date with sqlgen.py; regenerate it: {REGENERATE}"
    )


def test_main_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "small.jsonl"
    assert sqlgen.main(["--out", str(out), "-n", "12", "--seed", "7"]) == 0
    text = out.read_bytes().decode()
    assert text.endswith("\n") and "\r" not in text
    assert [json.loads(line) for line in text.splitlines()] == sqlgen.generate(seed=7, n=12)


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows() -> None:
    assert sqlgen.generate(seed=1, n=40) == sqlgen.generate(seed=1, n=40)
    assert sqlgen.generate(seed=1, n=40) != sqlgen.generate(seed=2, n=40)


def test_size_and_fields(rows: list[dict[str, object]]) -> None:
    assert len(rows) == 400
    assert COMMITTED.stat().st_size < 600_000
    for row in rows:
        assert set(row) == GRETEL_FIELDS
        assert isinstance(row["id"], int)
        assert all(isinstance(row[k], str) and row[k] for k in GRETEL_FIELDS - {"id"})
    assert [row["id"] for row in rows] == list(range(1, 401))


def test_every_gold_query_returns_rows(rows: list[dict[str, object]]) -> None:
    for row in rows:
        conn = sqlite3.connect(":memory:")
        try:
            conn.executescript(str(row["sql_context"]))
            assert conn.execute(str(row["sql"])).fetchall(), f"row {row['id']}: {row['sql']} returns nothing"
        finally:
            conn.close()


def test_questions_are_unique(rows: list[dict[str, object]]) -> None:
    prompts = [row["sql_prompt"] for row in rows]
    assert len(set(prompts)) == len(prompts)
    assert all("\n" not in str(p) for p in prompts), "the emulator finds a question by its single line"


def test_coverage_of_domains_complexities_and_constructs(rows: list[dict[str, object]]) -> None:
    assert len({row["domain"] for row in rows}) >= 8
    assert {row["sql_complexity"] for row in rows} == set(sqlgen.COMPLEXITY_DESCRIPTIONS)
    gold = [str(row["sql"]).upper() for row in rows]
    for construct in ("ORDER BY", "LIMIT", "GROUP BY", "HAVING", "JOIN", "LEFT JOIN", "IN (SELECT", "OVER (", "LIKE"):
        assert any(construct in sql for sql in gold), construct
    assert any("NULL" in str(row["sql_context"]) for row in rows)
    assert any("IS NULL" in sql for sql in gold)
    assert any("''" in str(row["sql_context"]) for row in rows), "a quoted apostrophe in the data"
