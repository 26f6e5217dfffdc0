"""Loading held-out sets: formats, field maps, URLs from a real local server, and every bad input."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from tests.hostile import hostile_server

from quantop.validation.dataset import DatasetError, DatasetLimits, Example, load_dataset, load_dataset_async, sample

ROW = {"id": 7, "sql_prompt": "How many rows?", "sql_context": "CREATE TABLE t (x INTEGER);", "sql": "SELECT 1"}
EXPECTED = Example(id="7", prompt="How many rows?", context="CREATE TABLE t (x INTEGER);", answer="SELECT 1")


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def jsonl(*rows: object) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_builtin() -> None:
    examples = load_dataset("builtin:text-to-sql")
    assert len(examples) == 400
    first = examples[0]
    assert first.id == "1" and first.prompt.endswith("?") and first.answer.startswith("SELECT")
    assert first.context.startswith("CREATE TABLE") and first.domain == "healthcare" and first.complexity


def test_jsonl_json_and_csv(tmp_path: Path) -> None:
    other = {**ROW, "id": 8, "domain": "retail", "sql_complexity": "basic SQL", "sql_prompt": "Second?"}
    as_jsonl = load_dataset(write(tmp_path, "d.jsonl", jsonl(ROW, other) + "\n"))
    as_array = load_dataset(write(tmp_path, "d.json", json.dumps([ROW, other], indent=2)))
    as_hf_json = load_dataset(write(tmp_path, "hf.json", jsonl(ROW, other)))  # Hugging Face to_json writes JSONL
    assert as_jsonl == as_array == as_hf_json
    assert as_jsonl[0] == EXPECTED
    assert as_jsonl[1] == Example("8", "Second?", EXPECTED.context, "SELECT 1", domain="retail", complexity="basic SQL")

    csv_text = 'sql_prompt,sql_context,sql\n"Which, with comma?","CREATE TABLE t (x TEXT);","SELECT ""x"" FROM t"\n'
    (example,) = load_dataset(write(tmp_path, "d.csv", csv_text))
    assert example == Example("1", "Which, with comma?", "CREATE TABLE t (x TEXT);", 'SELECT "x" FROM t')


def test_optional_fields_default_to_empty(tmp_path: Path) -> None:
    (example,) = load_dataset(
        write(tmp_path, "d.jsonl", jsonl({"sql_prompt": "Q?", "sql": "SELECT 1", "domain": None}))
    )
    assert example == Example(id="1", prompt="Q?", context="", answer="SELECT 1")


def test_field_map(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", jsonl({"question": "Q?", "schema": "CREATE TABLE t (x);", "query": "SELECT 1"}))
    (example,) = load_dataset(path, {"sql_prompt": "question", "sql_context": "schema", "sql": "query"})
    assert example == Example(id="1", prompt="Q?", context="CREATE TABLE t (x);", answer="SELECT 1")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("none.jsonl", None, "none.jsonl: file not found", id="missing-file"),
        pytest.param("d.txt", "x", "unsupported file type '.txt'; use one of .jsonl, .json, .csv", id="suffix"),
        pytest.param("d.jsonl", "", "the dataset is empty", id="empty"),
        pytest.param("d.jsonl", "\n  \n", "the dataset is empty", id="blank-lines"),
        pytest.param("d.json", "[]", "the dataset is empty", id="empty-array"),
        pytest.param("d.csv", "sql_prompt,sql\n", "the dataset is empty", id="empty-csv"),
        pytest.param("d.jsonl", jsonl(ROW) + '{"sql": \n', "line 2: invalid JSON", id="bad-jsonl"),
        pytest.param("d.json", '[\n{"sql": 1},\n{oops}\n]', "line 3: invalid JSON", id="bad-json"),
        pytest.param(
            "d.jsonl", jsonl(ROW, [1, 2]), "line 2: expected a JSON object with named fields, got list", id="list"
        ),
        pytest.param("d.json", "[1]", "item 1: expected a JSON object", id="array-of-numbers"),
        pytest.param("d.json", '{\n  "sql": "SELECT 1"\n}', "expected a JSON array of objects", id="one-object"),
        pytest.param(
            "d.jsonl", jsonl({**ROW, "sql_prompt": 5}), "field 'sql_prompt' must be a string, got int", id="int"
        ),
        pytest.param("d.jsonl", jsonl({**ROW, "sql": ""}), "required field 'sql' is empty", id="empty-sql"),
        pytest.param("d.jsonl", b"\xff\xfe\x00bad", "not UTF-8 text", id="binary"),
        pytest.param("d.jsonl", jsonl({**ROW, "id": True}), "field 'id' must be a string, got bool", id="bool-id"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: str | bytes | None, message: str) -> None:
    path = str(tmp_path / name) if content is None else write(tmp_path, name, content)
    with pytest.raises(DatasetError) as error:
        load_dataset(path)
    assert message in str(error.value)
    assert name in str(error.value)


def test_missing_required_field_says_what_is_there_and_how_to_map_it(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", jsonl(ROW, {"question": "Q?", "sql": "SELECT 1"}))
    with pytest.raises(DatasetError) as error:
        load_dataset(path)
    message = str(error.value)
    assert "line 2: required field 'sql_prompt' is missing" in message
    assert "fields present: question, sql" in message
    assert "--field-map sql_prompt=your_column" in message


def test_missing_mapped_column_names_both(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "prompt,sql\nQ?,SELECT 1\n")
    with pytest.raises(
        DatasetError, match=r"line 2: .*column 'question' \(mapped from sql_prompt\).*present: prompt, sql"
    ):
        load_dataset(path, {"sql_prompt": "question"})


def test_unknown_field_map_key_and_builtin_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"unknown quantop field.* prompt; known: sql_prompt, sql_context, sql"):
        load_dataset("builtin:text-to-sql", {"prompt": "question"})
    with pytest.raises(DatasetError, match="unknown built-in dataset 'spider'; known: builtin:text-to-sql"):
        load_dataset("builtin:spider")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(DatasetError, match="is a directory"):
        load_dataset(str(tmp_path / "dir.jsonl"))


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[str, bytes]]] = {
        "/sets/held-out.jsonl": ("text/plain", jsonl(ROW).encode()),
        "/sets/array": ("application/json; charset=utf-8", json.dumps([ROW]).encode()),
        "/sets/table": ("text/csv", b"sql_prompt,sql\nQ?,SELECT 1\n"),
        "/sets/plain": ("text/plain", jsonl(ROW).encode()),
    }

    def do_GET(self) -> None:
        content_type, body = self.routes.get(self.path, ("text/plain", b"not here"))
        self.send_response(200 if self.path in self.routes else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.parametrize("path", ["/sets/held-out.jsonl", "/sets/array", "/sets/plain"])
def test_url(server: str, path: str) -> None:
    assert load_dataset(server + path) == [EXPECTED]


def test_url_csv_by_content_type(server: str) -> None:
    assert load_dataset(server + "/sets/table") == [Example(id="1", prompt="Q?", context="", answer="SELECT 1")]


def test_url_errors(server: str) -> None:
    with pytest.raises(DatasetError, match=r"/sets/missing.jsonl: HTTP 404 Not Found"):
        load_dataset(server + "/sets/missing.jsonl")
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = closed.server_address[1]
    closed.server_close()
    with pytest.raises(DatasetError, match=f"http://127.0.0.1:{port}/x.jsonl: cannot fetch: "):
        load_dataset(f"http://127.0.0.1:{port}/x.jsonl", timeout=5)


def test_sample_is_deterministic_without_replacement_and_keeps_order() -> None:
    examples = load_dataset("builtin:text-to-sql")
    drawn = sample(examples, 50, seed=3)
    assert drawn == sample(examples, 50, seed=3)
    assert drawn != sample(examples, 50, seed=4)
    assert len({e.id for e in drawn}) == 50
    positions = [examples.index(e) for e in drawn]
    assert positions == sorted(positions)
    assert sample(examples, 1000) == examples
    assert sample(examples, 0) == []
    with pytest.raises(ValueError, match="cannot sample -1"):
        sample(examples, -1)


SMALL = DatasetLimits(max_bytes=64 * 1024, max_records=3, max_field_chars=100, fetch_deadline_s=60.0)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("/slowloris.jsonl", "no complete answer within 1 s", id="slowloris"),
        pytest.param("/hang.jsonl", "no complete answer within 1 s", id="hangs"),
        pytest.param("/endless.jsonl", "larger than the 0.0625 MiB limit", id="streams-forever"),
        pytest.param("/gzip-bomb.jsonl", "larger than the 0.0625 MiB limit", id="gzip-bomb"),
        pytest.param("/redirect-metadata.jsonl", "follows redirects only to allow-listed hosts", id="redirect"),
    ],
)
async def test_hostile_dataset_urls(path: str, message: str) -> None:
    limits = replace(SMALL, fetch_deadline_s=1.0) if "within" in message else SMALL
    with hostile_server() as url:
        with pytest.raises(DatasetError, match=message):
            load_dataset(url + path, limits=limits)
        with pytest.raises(DatasetError, match=message):
            await load_dataset_async(url + path, limits=limits)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("d.jsonl", jsonl(*[ROW] * 4), "more than 3 records", id="too-many-records"),
        pytest.param("d.jsonl", jsonl({**ROW, "sql": "x" * 101}), "field 'sql' is longer than 100", id="long-field"),
        pytest.param("d.jsonl", " " * (64 * 1024 + 1), "larger than the 0.0625 MiB limit", id="too-large-file"),
        pytest.param("d.json", "[" * 20_000 + "]" * 20_000, "nested too deeply", id="deep-json"),
        pytest.param("d.jsonl", "[" * 20_000 + "\n{}\n", "nested too deeply", id="deep-jsonl"),
        pytest.param("d.csv", "sql_prompt,sql\n" + "x" * 60_000 + ",1\n", "longer than 100", id="long-csv-field"),
        pytest.param("d.csv", 'sql_prompt,sql\n"' + "x" * 140_000 + '",1\n', "invalid CSV", id="csv-field-limit"),
    ],
)
def test_dataset_caps(tmp_path: Path, name: str, content: str, message: str) -> None:
    limits = DatasetLimits(max_bytes=64 * 1024 if name == "d.jsonl" else 1 << 20, max_records=3, max_field_chars=100)
    with pytest.raises(DatasetError, match=message):
        load_dataset(write(tmp_path, name, content), limits=limits)
