"""`quantop plan` as a user sees it: a narrow table, exit codes, --config-json offline, one-line errors."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantop.cli import main

PHI = "microsoft/Phi-3.5-mini-instruct"
GOOD_CONFIG = {
    "hidden_size": 2048,
    "num_hidden_layers": 16,
    "num_attention_heads": 16,
    "num_key_value_heads": 4,
    "vocab_size": 32000,
    "intermediate_size": 5632,
}


def columns(line: str) -> int:
    """Terminal columns: emoji are two wide, the variation selector after ⚠ none."""
    width = 0
    for ch in line:
        if ch == "\ufe0f":
            continue
        width += 2 if unicodedata.east_asian_width(ch) == "W" or ch == "⚠" else 1
    return width


def plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("model", "gpu"),
    [
        pytest.param(PHI, "t4", id="phi-t4"),
        pytest.param(PHI, "a10", id="phi-a10"),
        pytest.param("meta-llama/Llama-3.1-70B-Instruct", "v100", id="70b-v100"),
        pytest.param("hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", "h100", id="awq-h100"),
    ],
)
def test_table_fits_100_columns_and_wide_puts_the_why_on_the_method_line(
    capsys: pytest.CaptureFixture[str], model: str, gpu: str
) -> None:
    _, out, _ = plan(capsys, "--model", model, "--gpu", gpu)
    widest = max(out.splitlines(), key=columns)
    assert columns(widest) <= 100, widest
    _, wide, _ = plan(capsys, "--model", model, "--gpu", gpu, "--wide")
    fp8 = next(line for line in wide.splitlines() if line.split()[1:2] == ["fp8"])
    assert "fp8" in fp8.split("  ")[-1], "--wide: the why is the last column of the method's own line"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["--model", PHI, "--gpu", "t4"], 0, id="phi-fits-t4"),
        pytest.param(["--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "t4"], 1, id="70b-fits-no-t4"),
        pytest.param(["--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "t4", "-o", "json"], 1, id="json-too"),
        pytest.param(["--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "a100-80gb"], 0, id="70b-4bit-a100"),
        pytest.param(["--model", PHI, "--gpu", "t4", "--max-total-tokens", "2000000"], 1, id="kv-too-big"),
    ],
)
def test_exit_1_when_nothing_runs_and_fits(capsys: pytest.CaptureFixture[str], args: list[str], code: int) -> None:
    got, out, err = plan(capsys, *args)
    assert got == code
    if code == 1:
        assert err.strip().splitlines()[-1].startswith("quantop plan: no method runs and fits")
        assert "recommendation (" not in out, "no recommendation heading when nothing can be recommended"
    else:
        assert err == "" and "recommendation" in out


def test_refused_rows_show_no_speed_in_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = plan(capsys, "--model", PHI, "--gpu", "t4")
    rows = [line.split() for line in out.splitlines() if line[:1] in ("✅", "⚠", "❌")]
    assert rows and all(r[-1] == "-" for r in rows if r[0] == "❌")
    assert all(r[-1].endswith("x") for r in rows if r[0] == "✅" and r[1] in ("none", "eetq"))


@pytest.fixture
def config_json(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(GOOD_CONFIG))
    yield path


def test_config_json_plans_offline(capsys: pytest.CaptureFixture[str], config_json: Path) -> None:
    code, out, err = plan(
        capsys, "--model", "org/offline-1b", "--gpu", "t4", "--config-json", str(config_json), "-o", "json"
    )
    assert code == 0 and err == "", "no Hub notice: nothing is fetched"
    data = json.loads(out)
    assert data["model"] == "org/offline-1b" and data["methods"][0]["kvCacheGiB"] > 0


def _write(tmp_path: Path, content: str | bytes) -> str:
    path = tmp_path / "config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda d: str(d / "missing.json"), "cannot read", id="missing"),
        pytest.param(lambda d: str(d), "cannot read", id="a-directory"),
        pytest.param(lambda d: _write(d, " " * (1024 * 1024 + 1)), "larger than 1024 KiB", id="too-large"),
        pytest.param(lambda d: _write(d, b"\xff\xfe{"), "not JSON", id="not-utf8"),
        pytest.param(lambda d: _write(d, "{not json"), "not JSON", id="not-json"),
        pytest.param(lambda d: _write(d, "[" * 100_000 + "]" * 100_000), "not JSON", id="deep-nesting"),
        pytest.param(lambda d: _write(d, "[1, 2]"), "not an object", id="an-array"),
        pytest.param(lambda d: _write(d, json.dumps({"hidden_size": 10})), "lacks 'num_hidden_layers'", id="partial"),
        pytest.param(
            lambda d: _write(d, json.dumps({**GOOD_CONFIG, "num_hidden_layers": -3})), "1..4096", id="negative"
        ),
        pytest.param(lambda d: _write(d, json.dumps({**GOOD_CONFIG, "hidden_size": "2048"})), "integer", id="string"),
        pytest.param(lambda d: _write(d, json.dumps({**GOOD_CONFIG, "vocab_size": 10**30})), "integer", id="huge"),
        pytest.param(lambda d: _write(d, json.dumps({**GOOD_CONFIG, "head_dim": True})), "integer", id="bool"),
        pytest.param(
            lambda d: _write(d, json.dumps({**GOOD_CONFIG, "quantization_config": "awq"})), None, id="odd-quant-config"
        ),
    ],
)
def test_hostile_config_json_is_one_line_saying_what_to_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make: object, expected: str | None
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    code, _, err = plan(capsys, "--model", "org/x", "--gpu", "a10", "--config-json", path)
    if expected is None:
        assert code == 0 and err == ""
        return
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("quantop plan: UnknownModelArchitecture: architecture of org/x is unknown")
    assert expected in err and "--config-json FILE" in err


def test_unknown_model_says_it_fetches_from_the_hub_and_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = plan(capsys, "--model", "some-org/unknown-7b", "--gpu", "a10", "--hub-url", "http://127.0.0.1:9")
    notice, error = err.strip().splitlines()
    assert notice.startswith("quantop plan: some-org/unknown-7b is not in quantop's model table: fetching")
    assert "http://127.0.0.1:9" in notice and "--config-json FILE" in notice
    assert code == 2 and "cannot fetch config.json" in error and "pass --config-json FILE" in error
