"""Loading held-out sets: the built-in one, a local JSONL/JSON/CSV file, or a URL.

Records use the field names of gretelai/synthetic_text_to_sql; `field_map` adapts other column names.
Every problem with user input is a DatasetError whose message says where it is and how to fix it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .fetch import MIB, Fetched, FetchError, FetchLimits, fetch, fetch_sync

BUILTIN: dict[str, Path] = {"text-to-sql": Path(__file__).parent / "data" / "text-to-sql.jsonl"}
FIELDS = ("sql_prompt", "sql_context", "sql", "domain", "sql_complexity", "id")
REQUIRED = ("sql_prompt", "sql")
FORMATS = (".jsonl", ".json", ".csv")


@dataclass(frozen=True)
class DatasetLimits:
    """How much of a user's dataset is read: a held-out set is hundreds of rows, not gigabytes.

    The defaults keep a parsed set well inside the validation Job's 2Gi and the operator's 512Mi."""

    max_bytes: int = 64 * MIB
    max_records: int = 100_000
    max_field_chars: int = 1 * MIB
    fetch_deadline_s: float = 30.0


@dataclass(frozen=True)
class Example:
    id: str
    prompt: str
    context: str
    answer: str
    domain: str = ""
    complexity: str = ""


class DatasetError(Exception):
    pass


Record = tuple[str, dict[str, object]]  # (where, e.g. "line 3", the record)


def load_dataset(
    source: str,
    field_map: Mapping[str, str] | None = None,
    *,
    timeout: float | None = None,
    limits: DatasetLimits | None = None,
) -> list[Example]:
    """The examples of `source` (builtin:NAME, a file or a URL); `timeout` is the fetch's total deadline."""
    limits = _with_timeout(limits, timeout)
    columns = _columns(field_map or {})
    if source.startswith(("http://", "https://")):
        text, fmt = _fetched(source, _fetch_sync(source, limits))
    else:
        text, fmt = _read_local(source, limits)
    return _examples(source, text, fmt, columns, limits)


async def load_dataset_async(
    source: str,
    field_map: Mapping[str, str] | None = None,
    *,
    limits: DatasetLimits | None = None,
) -> list[Example]:
    """`load_dataset` for an event loop: the fetch is async and parsing runs on a thread."""
    limits = limits or DatasetLimits()
    columns = _columns(field_map or {})
    if source.startswith(("http://", "https://")):
        try:
            fetched = await fetch(source, _fetch_limits(limits))
        except FetchError as exc:
            raise DatasetError(str(exc)) from None
        text, fmt = _fetched(source, fetched)
    else:
        text, fmt = await asyncio.to_thread(_read_local, source, limits)
    return await asyncio.to_thread(_examples, source, text, fmt, columns, limits)


def _with_timeout(limits: DatasetLimits | None, timeout: float | None) -> DatasetLimits:
    limits = limits or DatasetLimits()
    if timeout is None:
        return limits
    return DatasetLimits(limits.max_bytes, limits.max_records, limits.max_field_chars, timeout)


def _fetch_limits(limits: DatasetLimits) -> FetchLimits:
    return FetchLimits(deadline_s=limits.fetch_deadline_s, max_bytes=limits.max_bytes)


def _fetch_sync(url: str, limits: DatasetLimits) -> Fetched:
    try:
        return fetch_sync(url, _fetch_limits(limits))
    except FetchError as exc:
        raise DatasetError(str(exc)) from None


def _read_local(source: str, limits: DatasetLimits) -> tuple[str, str]:
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN:
            raise DatasetError(
                f"unknown built-in dataset {name!r}; known: {', '.join(f'builtin:{k}' for k in BUILTIN)}"
            )
        return _read_file(BUILTIN[name], source, limits), ".jsonl"
    path = Path(source)
    fmt = path.suffix.lower()
    if fmt not in FORMATS:
        raise DatasetError(f"{source}: unsupported file type {fmt or '(none)'!r}; use one of {', '.join(FORMATS)}")
    return _read_file(path, source, limits), fmt


def _examples(source: str, text: str, fmt: str, columns: dict[str, str], limits: DatasetLimits) -> list[Example]:
    examples: list[Example] = []
    for n, (where, record) in enumerate(_parse(text, fmt, source), 1):
        if n > limits.max_records:
            raise DatasetError(
                f"{source}: more than {limits.max_records} records; a held-out set needs hundreds: keep a sample"
            )
        examples.append(_example(source, where, record, columns, n, limits.max_field_chars))
    if not examples:
        raise DatasetError(f"{source}: the dataset is empty (no records)")
    return examples


def sample(examples: Sequence[Example], n: int, seed: int = 0) -> list[Example]:
    """`n` examples drawn without replacement, the same for the same seed, in their original order."""
    if n < 0:
        raise ValueError(f"cannot sample {n} examples")
    if n >= len(examples):
        return list(examples)
    return [examples[i] for i in sorted(random.Random(seed).sample(range(len(examples)), n))]


def draw(examples: Sequence[Example], n: int, seed: int = 0) -> list[Example]:
    """`n` examples in a seeded random order: the first `n` of one shuffle of the whole set.

    The order is random, so a run may score items in it and stop early (a sequential test needs
    items whose order says nothing about them), and a prefix of a longer draw is a shorter one:
    a candidate is paired with its baseline on the items both scored, whatever budgets they had.
    """
    if n < 0:
        raise ValueError(f"cannot draw {n} examples")
    order = random.Random(seed).sample(range(len(examples)), len(examples))
    return [examples[i] for i in order[:n]]


def _columns(field_map: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(field_map) - set(FIELDS))
    if unknown:
        raise DatasetError(f"--field-map: unknown quantop field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    return {field: field_map.get(field, field) for field in FIELDS}


def _read_file(path: Path, source: str, limits: DatasetLimits) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise DatasetError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise DatasetError(f"{source}: is a directory, expected a {'/'.join(FORMATS)} file") from None
    except OSError as e:
        raise DatasetError(f"{source}: cannot read: {e.strerror or e}") from None
    if len(data) > limits.max_bytes:
        raise DatasetError(f"{source}: larger than the {limits.max_bytes / MIB:g} MiB limit; keep a sample")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _fetched(url: str, response: Fetched) -> tuple[str, str]:
    if response.status >= 400:
        raise DatasetError(f"{url}: HTTP {response.status} {response.reason}")
    path = response.url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in FORMATS:
        content_type = response.content_type
        suffix = ".csv" if "csv" in content_type else ".json" if "application/json" in content_type else ".jsonl"
    return response.text(), suffix


def _parse(text: str, fmt: str, source: str) -> Iterator[Record]:
    if fmt == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            for row in reader:
                yield f"line {reader.line_num}", {k: v for k, v in row.items() if k is not None}
        except csv.Error as e:
            raise DatasetError(f"{source}: line {reader.line_num}: invalid CSV: {e}") from None
    elif fmt == ".json" and not _is_json_lines(text):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{source}: line {e.lineno}: invalid JSON: {e.msg}") from None
        except RecursionError:
            raise DatasetError(f"{source}: JSON nested too deeply; expected an array of flat objects") from None
        if not isinstance(items, list):
            raise DatasetError(
                f"{source}: expected a JSON array of objects (or JSON Lines), got {type(items).__name__}"
            )
        for i, item in enumerate(items, 1):
            yield _object(item, f"item {i}", source)
    else:
        # JSONL; also what Hugging Face's `to_json` writes under a .json name.
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{source}: line {number}: invalid JSON: {e.msg} (column {e.colno})") from None
                except RecursionError:
                    raise DatasetError(f"{source}: line {number}: JSON nested too deeply") from None
                yield _object(item, f"line {number}", source)


def _is_json_lines(text: str) -> bool:
    """Hugging Face's `to_json` writes JSON Lines under a .json name: one object per line, several lines."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(lines[0]), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def _object(item: object, where: str, source: str) -> Record:
    if not isinstance(item, dict):
        raise DatasetError(f"{source}: {where}: expected a JSON object with named fields, got {type(item).__name__}")
    return where, item


def _example(
    source: str, where: str, record: dict[str, object], columns: dict[str, str], n: int, max_chars: int
) -> Example:
    values: dict[str, str] = {}
    for field, column in columns.items():
        value = record.get(column)
        if field == "id" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is None or (value == "" and field in REQUIRED):
            if field in REQUIRED:
                raise DatasetError(_missing(source, where, field, column, record))
            value = ""
        if not isinstance(value, str):
            raise DatasetError(
                f"{source}: {where}: field {column!r} must be a string, got {type(value).__name__} {value!r:.60}"
            )
        if len(value) > max_chars:
            raise DatasetError(f"{source}: {where}: field {column!r} is longer than {max_chars} characters")
        values[field] = value
    return Example(
        id=values["id"] or str(n),
        prompt=values["sql_prompt"],
        context=values["sql_context"],
        answer=values["sql"],
        domain=values["domain"],
        complexity=values["sql_complexity"],
    )


def _missing(source: str, where: str, field: str, column: str, record: dict[str, object]) -> str:
    state = "is empty" if column in record else "is missing"
    looked = f"column {column!r}" if column == field else f"column {column!r} (mapped from {field})"
    present = ", ".join(sorted(map(str, record))) or "(none)"
    return (
        f"{source}: {where}: required field {field!r} {state} ({looked}); fields present: {present}. "
        f"If your data names it differently, pass --field-map {field}=your_column"
    )
