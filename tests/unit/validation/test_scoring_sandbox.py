"""The scorer is a sandbox: hostile datasets and answers end as "wrong", bounded in time, CPU and memory."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from quantop.validation import scoring_sandbox
from quantop.validation.dataset import Example, load_dataset
from quantop.validation.scoring import execution_match, score_answer
from quantop.validation.scoring_sandbox import SandboxError, SandboxLimits, ScoringPool, _Worker

CONTEXT = "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);"
GOLD = "SELECT COUNT(*) FROM t"
FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
ENDED_BY_A_LIMIT = r"timeout|took longer than|CPU limit|memory limit"
LIMITS = SandboxLimits(wall_s=8.0, cpu_s=4.0)


def sql(context: str, answer: str) -> tuple[str, Example, str]:
    return "execution-accuracy", Example(id="h", prompt="q", context=context, answer=GOLD), answer


def regex(pattern: str, answer: str) -> tuple[str, Example, str]:
    return "regex", Example(id="r", prompt="q", context="", answer=pattern), answer


HOSTILE = [
    pytest.param(
        *sql("ATTACH '{tmp}/attached.db' AS a; CREATE TABLE a.t (x);", GOLD),
        r"gold query failed: sql_context does not load: not authorized: a context may only create and fill tables",
        id="context-attach",
    ),
    pytest.param(
        *sql("PRAGMA journal_mode = WAL; " + CONTEXT, GOLD),
        "sql_context does not load: not authorized",
        id="ctx-pragma",
    ),
    pytest.param(
        *sql(f"CREATE TABLE t (x); {FOREVER} INSERT INTO t SELECT x FROM c;", GOLD),
        r"sql_context does not load: (timeout|out of memory)|" + ENDED_BY_A_LIMIT,
        id="context-recursive-cte",
    ),
    pytest.param(
        *sql("CREATE TABLE t (x); SELECT load_extension('/tmp/evil.so');", GOLD), "not authorized", id="ctx-extension"
    ),
    pytest.param(
        *sql(f"CREATE TABLE t (x); {FOREVER} INSERT INTO t SELECT randomblob(900000) FROM c LIMIT 20000;", GOLD),
        "out of memory|" + ENDED_BY_A_LIMIT,
        id="context-fills-18GB-of-blobs",
    ),
    pytest.param(*sql(CONTEXT, "ATTACH '{tmp}/answer.db' AS a"), "not authorized", id="answer-attach"),
    pytest.param(*sql(CONTEXT, f"{FOREVER} SELECT COUNT(*) FROM c"), ENDED_BY_A_LIMIT, id="answer-recursive-cte"),
    pytest.param(
        *sql(CONTEXT, f"{FOREVER.replace('ALL ', '')} SELECT COUNT(*) FROM c"),
        ENDED_BY_A_LIMIT + "|out of memory",
        id="answer-recursive-union-set-grows",
    ),
    pytest.param(*sql(CONTEXT, "SELECT printf('%.*c', 9e8, 'x')"), "function raised exception", id="printf-9e8"),
    pytest.param(*sql(CONTEXT, "SELECT format('%900000000d', 1)"), "function raised exception", id="format-width"),
    pytest.param(*sql(CONTEXT, "SELECT randomblob(9e8)"), "string or blob too big", id="randomblob-9e8"),
    pytest.param(*sql(CONTEXT, "SELECT hex(zeroblob(4e8))"), "string or blob too big", id="hex-zeroblob-4e8"),
    pytest.param(
        *sql(CONTEXT, "SELECT length(replace(hex(zeroblob(400000)), '0', '0000000000'))"),
        "string or blob too big",
        id="replace-amplifies",
    ),
    pytest.param(
        *sql(CONTEXT, "SELECT instr(hex(zeroblob(499999)) || 'x', hex(zeroblob(249999)) || 'y')"),
        ENDED_BY_A_LIMIT,
        id="quadratic-instr-inside-one-call",
    ),
    pytest.param(
        *sql(CONTEXT, "SELECT " + "(" * 5000 + "1" + ")" * 5000), "too large|too deep|stack", id="deep-expression"
    ),
    pytest.param(*sql(CONTEXT, "SELECT load_extension('/tmp/evil.so')"), "not authorized", id="answer-extension"),
    pytest.param(*sql(CONTEXT, "SELECT 1; DROP TABLE t"), "only one SQL statement", id="two-statements"),
    pytest.param(*sql(CONTEXT, "SELECT 1 " + " " * 300_000), "answer longer than", id="answer-too-long"),
    pytest.param(*regex("^(a+)+$", "a" * 100_000 + "b"), None, id="catastrophic-backtracking"),
    pytest.param(*regex("(x+x+)+y", "x" * 100_000), None, id="nested-quantifiers"),
    pytest.param(*regex("(?=a)a", "a"), "invalid regex in example r", id="lookaround-unsupported"),
    pytest.param(*regex("((a{100}){100}){100}", "a"), "invalid regex in example r", id="regex-too-large"),
]


@pytest.mark.parametrize(("metric", "example", "answer", "reason"), HOSTILE)
async def test_hostile_inputs_score_as_wrong_within_the_limits(
    tmp_path: Path, metric: str, example: Example, answer: str, reason: str | None
) -> None:
    example = Example(**{**vars(example), "context": example.context.replace("{tmp}", str(tmp_path))})
    answer = answer.replace("{tmp}", str(tmp_path))
    async with ScoringPool(1, LIMITS) as pool:
        result = await pool.score(metric, example, answer)
        assert not result.correct
        if reason is None:
            assert result.error is None
        else:
            assert result.error is not None
            assert __import__("re").search(reason, result.error), result.error
        # The pool replaced whatever worker the case killed: the next example scores normally.
        assert (await pool.score("execution-accuracy", Example("ok", "q", CONTEXT, GOLD), "SELECT 2")).correct
    assert list(tmp_path.iterdir()) == []  # nothing attached, nothing written


@pytest.mark.parametrize(
    ("context", "answer"),
    [
        pytest.param("ATTACH '{tmp}/x.db' AS a; CREATE TABLE a.t (x);", "SELECT 1", id="attach-in-context"),
        pytest.param("CREATE TABLE t (x);", "SELECT randomblob(9e8)", id="randomblob"),
        pytest.param("CREATE TABLE t (x);", "SELECT printf('%.*c', 9e8, 'x')", id="printf"),
    ],
)
def test_the_in_process_scorer_has_the_same_sqlite_guards(tmp_path: Path, context: str, answer: str) -> None:
    result = execution_match(context.replace("{tmp}", str(tmp_path)), "SELECT 1", answer)
    assert not result.correct and result.error
    assert list(tmp_path.iterdir()) == []


def test_regex_metric_is_linear_time_in_process() -> None:
    example = Example(id="r", prompt="q", context="", answer="^(a+)+$")
    assert not score_answer("regex", example, "a" * 100_000 + "b").correct
    assert score_answer("regex", example, "aaaa").correct


async def test_two_hundred_examples_score_as_in_process_and_the_wall_time_is_printed() -> None:
    examples = load_dataset("builtin:text-to-sql")[:200]
    answers = [ex.answer if i % 3 else "SELECT 42" for i, ex in enumerate(examples)]
    started = time.perf_counter()
    async with ScoringPool(2) as pool:
        results = await asyncio.gather(
            *(pool.score("execution-accuracy", ex, a) for ex, a in zip(examples, answers, strict=True))
        )
    print(f"200 examples in the sandbox pool of 2: {time.perf_counter() - started:.2f} s")
    expected = [execution_match(ex.context, ex.answer, a).correct for ex, a in zip(examples, answers, strict=True)]
    assert [r.correct for r in results] == expected
    assert sum(expected) >= 130


async def test_unknown_metric_is_refused_before_any_worker_starts() -> None:
    async with ScoringPool(1) as pool:
        with pytest.raises(ValueError, match="known metrics: execution-accuracy"):
            await pool.score("bleu", Example("1", "q", "", "x"), "x")


async def test_a_worker_that_cannot_start_is_a_sandbox_error_not_a_wrong_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scoring_sandbox, "WORKER_MODULE", "quantop.validation.no_such_module")
    async with ScoringPool(1) as pool:
        with pytest.raises(SandboxError, match=r"the scoring worker did not start \(exit 1\)"):
            await pool.score("exact", Example("1", "q", "", "x"), "x")


@pytest.mark.parametrize(
    ("code", "said"),
    [
        pytest.param(-signal.SIGXCPU, "its CPU limit", id="cpu-limit"),
        pytest.param(3, "memory limit", id="memory-limit"),
        pytest.param(255, "exit status lost", id="status-collected-elsewhere"),
        pytest.param(1, "died (exit 1)", id="a-crash"),
    ],
)
def test_a_dead_worker_says_what_ended_it(code: int, said: str) -> None:
    assert said in _Worker(SimpleNamespace(returncode=code)).death()  # type: ignore[arg-type]
