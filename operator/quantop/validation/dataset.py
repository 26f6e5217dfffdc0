"""Loading held-out sets: the built-in one, a local JSONL/JSON/CSV file, or a URL.

Records use the field names of gretelai/synthetic_text_to_sql; `field_map` adapts other column names.
Every problem with user input is a DatasetError whose message says where it is and how to fix it.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

BUILTIN: dict[str, Path] = {"text-to-sql": Path(__file__).parent / "data" / "text-to-sql.jsonl"}
FIELDS = ("sql_prompt", "sql_context", "sql", "domain", "sql_complexity", "id")
REQUIRED = ("sql_prompt", "sql")
FORMATS = (".jsonl", ".json", ".csv")


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


def load_dataset(source: str, field_map: Mapping[str, str] | None = None, *, timeout: float = 30.0) -> list[Example]:
    columns = _columns(field_map or {})
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN:
            raise DatasetError(
                f"unknown built-in dataset {name!r}; known: {', '.join(f'builtin:{k}' for k in BUILTIN)}"
            )
        text, fmt = _read_file(BUILTIN[name], source), ".jsonl"
    elif source.startswith(("http://", "https://")):
        text, fmt = _fetch(source, timeout)
    else:
        path = Path(source)
        fmt = path.suffix.lower()
        if fmt not in FORMATS:
            raise DatasetError(f"{source}: unsupported file type {fmt or '(none)'!r}; use one of {', '.join(FORMATS)}")
        text = _read_file(path, source)
    records = list(_parse(text, fmt, source))
    if not records:
        raise DatasetError(f"{source}: the dataset is empty (no records)")
    return [_example(source, where, record, columns, n) for n, (where, record) in enumerate(records, 1)]


def sample(examples: Sequence[Example], n: int, seed: int = 0) -> list[Example]:
    """`n` examples drawn without replacement, the same for the same seed, in their original order."""
    if n < 0:
        raise ValueError(f"cannot sample {n} examples")
    if n >= len(examples):
        return list(examples)
    return [examples[i] for i in sorted(random.Random(seed).sample(range(len(examples)), n))]


def _columns(field_map: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(field_map) - set(FIELDS))
    if unknown:
        raise DatasetError(f"--field-map: unknown quantop field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    return {field: field_map.get(field, field) for field in FIELDS}


def _read_file(path: Path, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise DatasetError(f"{source}: is a directory, expected a {'/'.join(FORMATS)} file") from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DatasetError(f"{source}: cannot read: {e.strerror or e}") from None


def _fetch(url: str, timeout: float) -> tuple[str, str]:
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as e:
        raise DatasetError(f"{url}: cannot fetch: {e or type(e).__name__}") from None
    if response.status_code >= 400:
        raise DatasetError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
    suffix = "." + httpx.URL(url).path.rsplit(".", 1)[-1].lower() if "." in httpx.URL(url).path else ""
    if suffix not in FORMATS:
        content_type = response.headers.get("content-type", "")
        suffix = ".csv" if "csv" in content_type else ".json" if "application/json" in content_type else ".jsonl"
    return response.text, suffix


def _parse(text: str, fmt: str, source: str) -> Iterator[Record]:
    if fmt == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            yield f"line {reader.line_num}", {k: v for k, v in row.items() if k is not None}
    elif fmt == ".json" and not _is_json_lines(text):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{source}: line {e.lineno}: invalid JSON: {e.msg}") from None
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
                yield _object(item, f"line {number}", source)


def _is_json_lines(text: str) -> bool:
    """Hugging Face's `to_json` writes JSON Lines under a .json name: one object per line, several lines."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(lines[0]), dict)
    except json.JSONDecodeError:
        return False


def _object(item: object, where: str, source: str) -> Record:
    if not isinstance(item, dict):
        raise DatasetError(f"{source}: {where}: expected a JSON object with named fields, got {type(item).__name__}")
    return where, item


def _example(source: str, where: str, record: dict[str, object], columns: dict[str, str], n: int) -> Example:
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
