"""Every `quantop` command reports a bad input as one line, `quantop COMMAND: ...`, and exits 2: no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from quantop.api.command_errors import CommandError, checked, error_line, fail
from quantop.cli import COMMAND_MODULES, main
from quantop.sandbox.processes import quantop_command

MISSING = "/nonexistent-quantop-dir/missing.yaml"

#: (command, arguments with a bad input). Each command of the CLI appears at least once.
BAD_INPUTS = [
    pytest.param("crd", ["-o", MISSING], id="crd-unwritable-output"),
    pytest.param("plan", ["--model", "microsoft/Phi-3.5-mini-instruct", "--gpu", "b200"], id="plan-unknown-gpu"),
    pytest.param("plan", ["--model", "x/y", "--gpu", "a10", "--config-json", MISSING], id="plan-missing-config"),
    pytest.param("render", ["-f", MISSING], id="render-missing-file"),
    pytest.param("render", ["-f", "README.md"], id="render-no-quantizedmodel"),
    pytest.param("run", ["--config", MISSING], id="run-missing-config"),
    pytest.param("run", ["--config", "BAD_CONFIG"], id="run-invalid-config"),
    pytest.param("plan", ["--model", "x/y", "--gpu", "a10", "--config", "BAD_CONFIG"], id="plan-invalid-config"),
    pytest.param("validate", ["--endpoint", "http://127.0.0.1:1", "--duration", "soon"], id="validate-duration"),
    pytest.param("report", [MISSING], id="report-missing-report"),
    pytest.param("emulate-tgi", ["--profile", "b200-none"], id="emulate-unknown-profile"),
    pytest.param("sandbox", ["-f", MISSING], id="sandbox-missing-manifest"),
    pytest.param("sandbox", ["--config", MISSING], id="sandbox-missing-config"),
    pytest.param("sandbox", ["--config", "BAD_CONFIG"], id="sandbox-invalid-config"),
]
REGISTERED = {name for names, _ in COMMAND_MODULES for name in names}
if "emulate" in REGISTERED:  # `quantop emulate --engine tgi|vllm`, where that command is wired in
    BAD_INPUTS += [
        pytest.param("emulate", ["--profile", "b200-none"], id="emulate-tgi-engine-unknown-profile"),
        pytest.param("emulate", ["--engine", "vllm", "--profile", "b200-none"], id="emulate-vllm-unknown-profile"),
    ]


@pytest.mark.parametrize(("command", "args"), BAD_INPUTS)
def test_bad_input_is_one_prefixed_line(command: str, args: list[str], tmp_path: Path) -> None:
    if command == "sandbox":
        args = [*args, "--workdir", str(tmp_path / "sandbox")]
    bad_config = tmp_path / "config.yaml"
    bad_config.write_text("gpuProfiles: 3\n")  # valid YAML, not an operator config
    args = [str(bad_config) if a == "BAD_CONFIG" else a for a in args]
    result = subprocess.run(quantop_command(command, *args), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"quantop {command}: "), last


def test_every_command_is_in_the_table() -> None:
    assert {p.values[0] for p in BAD_INPUTS} == REGISTERED


@pytest.mark.parametrize(
    ("message", "line"),
    [
        pytest.param("bad flag", "quantop x: bad flag", id="plain"),
        pytest.param(
            "1 validation error\n  field\n    is wrong", "quantop x: 1 validation error field is wrong", id="folded"
        ),
        pytest.param("  padded\t", "quantop x: padded", id="trimmed"),
    ],
)
def test_error_line_is_one_line(message: str, line: str) -> None:
    assert error_line("x", message) == line


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param("12", None, id="parsed"),
        pytest.param("twelve", "--count twelve: invalid literal", id="value-error"),
    ],
)
def test_checked_names_the_input(value: str, error: str | None) -> None:
    if error is None:
        assert checked(int, value, f"--count {value}") == 12
        return
    with pytest.raises(CommandError) as exc:
        checked(int, value, f"--count {value}")
    assert str(exc.value).startswith(error) and exc.value.code == 2


def test_command_error_exits_with_its_code(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import quantop.api.commands as crd

    def broken(args: object) -> int:
        raise CommandError("cannot do it: do this instead", 3)

    monkeypatch.setattr(crd, "run", broken)
    assert main(["crd"]) == 3
    assert capsys.readouterr().err == "quantop crd: cannot do it: do this instead\n"
    assert fail("crd", "x", 5) == 5 and capsys.readouterr().err == "quantop crd: x\n"
