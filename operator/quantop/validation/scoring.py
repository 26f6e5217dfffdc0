"""Scoring a model's answers against held-out examples: SQL extraction, execution accuracy, simple metrics.

Everything here is pure and local (sqlite3 in memory, no network), so the validation Job and the
tests score the same way.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import re2

from .dataset import Example

#: RE2's memory budget for one compiled pattern (its default is 8 MiB).
REGEX_MAX_MEMORY = 8 << 20
METRICS = ("execution-accuracy", "exact-match", "exact", "contains", "regex")
MAX_ROWS = 100_000  # a result this large is a runaway join, not an answer

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<str>'(?:[^']|'')*'?)
    |(?P<ident>"(?:[^"]|"")*"?|`[^`]*`?|\[[^\]]*\]?)
    |(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    |(?P<op><=|>=|<>|!=|==|\|\||<<|>>|.)""",
    re.X | re.S,
)
Token = tuple[str, str]  # (kind, text)
STATEMENT_START = re.compile(
    r"(SELECT|WITH|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|VALUES|EXPLAIN|ATTACH)\b", re.I
)


def tokenize(sql: str) -> list[Token]:
    """Lossless: joining the texts gives back `sql`, so rewrites keep the author's layout."""
    return [(m.lastgroup or "op", m.group()) for m in _TOKEN.finditer(sql)]


def _significant(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t[0] not in ("ws", "comment")]


def split_statements(sql: str) -> list[str]:
    """The non-empty statements of `sql`, split at semicolons outside strings, identifiers and comments."""
    statements: list[list[Token]] = []
    current: list[Token] = []
    for token in tokenize(sql):
        if token == ("op", ";"):
            statements.append(current)
            current = []
        else:
            current.append(token)
    statements.append(current)
    return ["".join(t[1] for t in s).strip() for s in statements if _significant(s)]


def normalize_sql(sql: str) -> str:
    """A canonical spelling: words lowercased (SQLite compares keywords and names case-insensitively),
    string literals untouched, comments dropped, one space between tokens except around punctuation."""
    out = ""
    previous = ""
    for kind, text in _significant(tokenize(sql.strip().rstrip(";"))):
        text = text.lower() if kind == "word" else text
        glued = text in (",", ")", ".", ";") or previous in ("(", ".") or (text == "(" and previous.isidentifier())
        out += text if glued or not out else " " + text
        previous = text
    return out.rstrip(";").rstrip()


def exact_match(gold: str, predicted: str) -> bool:
    return normalize_sql(gold) == normalize_sql(predicted)


def has_top_level_order_by(sql: str) -> bool:
    depth = 0
    words = _significant(tokenize(sql))
    for i, (_kind, text) in enumerate(words):
        depth += {"(": 1, ")": -1}.get(text, 0)
        if depth == 0 and text.lower() == "order" and i + 1 < len(words) and words[i + 1][1].lower() == "by":
            return True
    return False


# --- extraction --------------------------------------------------------------------------------

_SQL_TAGS = {"", "sql", "sqlite", "sqlite3", "postgresql", "postgres", "mysql", "tsql", "plsql"}
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:final\s+)?(?:sqlite\s+|sql\s+)?(?:sql|query|answer)(?:\*\*)?\s*:\s*", re.I)
_CONTINUATION = re.compile(
    r"(FROM|WHERE|JOIN|INNER|LEFT|RIGHT|FULL|CROSS|NATURAL|ON|USING|AND|OR|NOT|GROUP|ORDER|HAVING|LIMIT|OFFSET|"
    r"UNION|INTERSECT|EXCEPT|CASE|WHEN|THEN|ELSE|END|AS|SELECT|WITH|WINDOW|OVER|PARTITION|BETWEEN|IN|IS|LIKE|"
    r"DESC|ASC|DISTINCT|VALUES|SET)\b",
    re.I,
)
_SPECIAL_TOKENS = re.compile(r"</s>|<\|[a-z_]+\|>|<eos>|<end_of_turn>", re.I)


def extract_sql(text: str) -> str:
    """The SQL in a model's answer: a fenced block, a "SQL:" line, or the first lines that look like SQL."""
    text = _SPECIAL_TOKENS.sub("", text)
    fenced = _from_fences(text)
    if fenced is not None:
        return _clean(fenced)
    from_lines = _from_lines(text)
    if from_lines is not None:
        return _clean(from_lines)
    for span in re.findall(r"`([^`\n]+)`", text):
        if STATEMENT_START.match(span.strip()):
            return _clean(span)
    return _clean(text)


def _from_fences(text: str) -> str | None:
    """The first block tagged as SQL, else the first untagged one (a closing fence cut off by max tokens is fine)."""
    untagged: str | None = None
    for m in re.finditer(r"```([A-Za-z0-9_+-]*)(.*?)(?:```|\Z)", text, re.S):
        lang, body = m.group(1), m.group(2)
        if lang.lower() in _SQL_TAGS - {""}:
            return body
        if untagged is None and (lang == "" or STATEMENT_START.match(lang)):
            untagged = lang + body
    return untagged


def _from_lines(text: str) -> str | None:
    lines = text.splitlines()
    for start, line in enumerate(lines):
        candidate = _LABEL.sub("", line).strip().strip("`")
        if not STATEMENT_START.match(candidate) or _is_prose(candidate, first=True):
            continue
        taken = [candidate]
        for following in lines[start + 1 :]:
            if ";" in taken[-1] or not following.strip() or _is_prose(following):
                break
            taken.append(following.rstrip().rstrip("`"))
        return "\n".join(taken)
    return None


def _is_prose(line: str, first: bool = False) -> bool:
    """Explanation rather than SQL: "This query counts ...", or a sentence that merely starts like SQL
    ("With the schema above, the query is:")."""
    stripped = line.strip()
    if line[:1].isspace() or not re.match(r"[A-Z][a-z]", stripped):
        return False
    if first:
        return stripped.endswith((":", ".", "!")) or not re.search(r"\bfrom\b|\(|\*|=|\bvalues\b", stripped, re.I)
    return not _CONTINUATION.match(stripped)


def _clean(sql: str) -> str:
    """Drop prose after the first semicolon unless another statement follows (that must stay, to be refused)."""
    tokens = tokenize(sql.strip())
    for i, token in enumerate(tokens):
        if token == ("op", ";"):
            rest = "".join(t[1] for t in tokens[i + 1 :]).strip()
            if not STATEMENT_START.match(rest):
                sql = "".join(t[1] for t in tokens[:i])
            break
    return sql.strip().rstrip(";").strip()


# --- execution ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionResult:
    correct: bool
    error: str | None = None


class QueryError(Exception):
    pass


_READ_ONLY = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
#: What a dataset's sql_context may do to build its database: define and fill tables, no more.
_BUILD = _READ_ONLY | {
    sqlite3.SQLITE_CREATE_TABLE,
    sqlite3.SQLITE_CREATE_INDEX,
    sqlite3.SQLITE_CREATE_VIEW,
    sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_CREATE_TEMP_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_INDEX,
    sqlite3.SQLITE_CREATE_TEMP_VIEW,
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
    sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_DROP_VIEW,
    sqlite3.SQLITE_DROP_TRIGGER,
    sqlite3.SQLITE_INSERT,
    sqlite3.SQLITE_UPDATE,
    sqlite3.SQLITE_DELETE,
    sqlite3.SQLITE_ALTER_TABLE,
    sqlite3.SQLITE_TRANSACTION,
    sqlite3.SQLITE_SAVEPOINT,
    sqlite3.SQLITE_ANALYZE,
}
#: Functions that reach outside the database (files, shared libraries, tokenizer pointers).
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})

#: SQLite's own limits for one scoring database: strings and blobs of at most 1 MB, so
#: printf('%.*c', 9e8, 'x'), randomblob(9e8) or zeroblob(4e8) fail at once instead of allocating;
#: no ATTACH at all; shallow expressions and triggers.
SQLITE_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: 1_000_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 2_000_000,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 200,
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 10,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 10_000,
}


def _authorizer(allowed: set[int]) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    # A model's answer must not write, ATTACH a file on disk or change PRAGMAs: only reads pass.
    # The dataset's context may build tables, nothing else: it is user input too.
    def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY

    return authorize


_PRINTF_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d+)?(?:\.(\*|\d+))?(?:ll|l)?(.)", re.S)


def _printf_sizes(fmt: str, args: tuple[object, ...]) -> list[float]:
    """Widths and precisions that printf would use, literal or taken from the arguments by `*`."""
    sizes: list[float] = []
    position = 0
    for width, precision, conversion in _PRINTF_SPEC.findall(fmt):
        for part in (width, precision):
            if part == "*":
                value = args[position] if position < len(args) else 0
                position += 1
                sizes.append(abs(float(value)) if isinstance(value, int | float) else 0.0)
            elif part:
                sizes.append(float(part))
        position += conversion != "%"
    return sizes


def _guarded_printf(plain: sqlite3.Connection) -> Callable[..., str | None]:
    # SQLite's printf fills a width or precision one character at a time even past its length
    # limit (9e8 took 7 s, then NULL), and a progress handler does not run inside a function call.
    limit = SQLITE_LIMITS[sqlite3.SQLITE_LIMIT_LENGTH]

    def printf(fmt: object = None, *args: object) -> str | None:
        if isinstance(fmt, str) and any(size > limit for size in _printf_sizes(fmt, args)):
            raise ValueError(f"printf width or precision over {limit}")
        placeholders = ", ".join("?" * (1 + len(args)))
        text: str | None = plain.execute(f"SELECT printf({placeholders})", (fmt, *args)).fetchone()[0]
        return text

    return printf


def _sandboxed_connection() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for limit, value in SQLITE_LIMITS.items():
        conn.setlimit(limit, value)
    conn.execute("PRAGMA temp_store = MEMORY")  # sorts and sets stay in the heap SQLite's limit bounds
    plain = sqlite3.connect(":memory:")
    plain.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_LIMITS[sqlite3.SQLITE_LIMIT_LENGTH])
    for name in ("printf", "format"):
        conn.create_function(name, -1, _guarded_printf(plain), deterministic=True)
    return conn


def _arm(conn: sqlite3.Connection, allowed: set[int], timeout_s: float) -> Callable[[], bool]:
    """Authorizer and a fresh progress-handler deadline; returns "has the deadline passed?"."""
    conn.set_authorizer(_authorizer(allowed))
    deadline = time.monotonic() + timeout_s
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    return lambda: time.monotonic() > deadline


def _message(e: Exception, refused: str) -> str:
    message = str(e)
    if isinstance(e, MemoryError):  # SQLite's heap limit (SQLITE_NOMEM), or the process's own
        return "out of memory"
    if message == "not authorized":
        return f"not authorized: {refused}"
    return message[:300] or type(e).__name__


_FAILURES = (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError, RecursionError)


def run_query(context: str, sql: str, timeout_s: float = 2.0) -> list[tuple[object, ...]]:
    """Rows of `sql` on a fresh in-memory database built from `context`; QueryError on any failure.

    Both run under an authorizer, SQLite's limits and a deadline of `timeout_s` each."""
    conn = _sandboxed_connection()
    try:
        expired = _arm(conn, _BUILD, timeout_s)
        try:
            conn.executescript(context)
        except _FAILURES as e:
            reason = "timeout" if expired() else _message(e, "a context may only create and fill tables")
            raise QueryError(f"sql_context does not load: {reason}") from None
        expired = _arm(conn, _READ_ONLY, timeout_s)
        try:
            cursor = conn.execute(sql)
            rows = cursor.fetchmany(MAX_ROWS + 1)
        except _FAILURES as e:
            refused = "only read-only SELECT queries are allowed"
            raise QueryError("timeout" if expired() else _message(e, refused)) from None
        if len(rows) > MAX_ROWS:
            raise QueryError(f"result too large (more than {MAX_ROWS} rows)")
        return rows
    finally:
        conn.close()


def _value(v: object) -> object:
    """NULL-safe and float-tolerant: 1 == 1.0, and floats agree to 6 significant digits."""
    if isinstance(v, float) and math.isfinite(v):
        if v.is_integer() and abs(v) < 2**53:
            return int(v)
        rounded = float(f"{v:.6g}")
        return int(rounded) if rounded.is_integer() else rounded
    return v


def execution_match(context: str, gold: str, predicted: str, *, timeout_s: float = 2.0) -> ExecutionResult:
    """Run gold and predicted on separate fresh databases and compare their rows (not column names).

    Rows are compared as multisets unless the gold query orders its result at the top level."""
    statements = split_statements(predicted)
    if not statements:
        return ExecutionResult(False, "no SQL query in the answer")
    if len(statements) > 1:
        return ExecutionResult(False, f"only one SQL statement is allowed, the answer has {len(statements)}")
    try:
        gold_rows = run_query(context, gold, timeout_s)
    except QueryError as e:
        return ExecutionResult(False, f"gold query failed: {e}")
    try:
        predicted_rows = run_query(context, statements[0], timeout_s)
    except QueryError as e:
        return ExecutionResult(False, str(e))
    g = [tuple(_value(v) for v in row) for row in gold_rows]
    p = [tuple(_value(v) for v in row) for row in predicted_rows]
    return ExecutionResult(g == p if has_top_level_order_by(gold) else Counter(g) == Counter(p))


# --- generic metrics ---------------------------------------------------------------------------


def score_answer(metric: str, example: Example, answer_text: str) -> ExecutionResult:
    scorer = _SCORERS.get(metric)
    if scorer is None:
        raise ValueError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")
    return scorer(example, answer_text)


def _regex(example: Example, answer: str) -> ExecutionResult:
    # RE2 matches in linear time: a pattern such as ^(a+)+$ cannot backtrack for ever. It has no
    # backreferences or lookaround; such a pattern is reported as invalid, with RE2's reason.
    options = re2.Options()
    options.max_mem = REGEX_MAX_MEMORY
    options.log_errors = False
    try:
        pattern = re2.compile(example.answer, options)
    except re2.error as e:
        return ExecutionResult(False, f"invalid regex in example {example.id} (RE2 syntax, no lookaround): {e}")
    return ExecutionResult(pattern.search(answer) is not None)


_SCORERS: dict[str, Callable[[Example, str], ExecutionResult]] = {
    "execution-accuracy": lambda ex, a: execution_match(ex.context, ex.answer, extract_sql(a)),
    "exact-match": lambda ex, a: ExecutionResult(exact_match(ex.answer, extract_sql(a))),
    "exact": lambda ex, a: ExecutionResult(a.strip().casefold() == ex.answer.strip().casefold()),
    "contains": lambda ex, a: ExecutionResult(ex.answer.strip().casefold() in a.casefold()),
    "regex": _regex,
}


def prompt_for(example: Example) -> str:
    """The question as sent to the model; the emulator finds the question again by its `Question: ` line."""
    schema = [s + ";" for s in split_statements(example.context) if re.match(r"CREATE\s+TABLE\b", s, re.I)]
    return (
        "You are an expert SQLite developer. Given the database schema below, write the SQLite query that "
        "answers the question.\n\n"
        "Schema:\n" + ("\n".join(schema) or "(no schema given)") + "\n\n"
        f"Question: {example.prompt}\n\n"
        "Answer with exactly one SQLite query and nothing else.\n"
    )
