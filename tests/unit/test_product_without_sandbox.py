"""The product runs without the sandbox and its extra, as the operator image ships it.

A copy of operator/quantop without sandbox/ comes first on sys.path, and a meta-path hook makes the
sandbox's dependencies (and quantop.sandbox, should the copy be bypassed) impossible to import, as if
they were not installed. Every product command must still answer `--help`, and `render` must work.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "quantop"
REFUSED = ("aiohttp", "kmock", "celpy", "grafana_foundation_sdk", "quantop.sandbox", "quantop_build")
PRODUCT_COMMANDS = ["run", "validate", "report", "plan", "render", "crd"]

# Runs in the child: the hook refuses the sandbox's world, then `quantop` runs; on the way out it
# reports where quantop came from and every module loaded, so the test can check nothing slipped by.
RUNNER = """
import atexit, importlib.abc, json, sys
REFUSED = {refused!r}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == r or fullname.startswith(r + ".") for r in REFUSED):
            raise ModuleNotFoundError(f"No module named {{fullname!r}} (refused: not in the product)", name=fullname)
        return None
sys.meta_path.insert(0, Refuse())
sys.path.insert(0, {copy!r})
def report():
    with open({report!r}, "w") as f:
        json.dump({{"quantop": sys.modules["quantop"].__file__, "modules": sorted(sys.modules)}}, f)
atexit.register(report)
sys.argv = ["quantop", *sys.argv[1:]]
from quantop.cli import main
sys.exit(main())
"""


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the quantop package without sandbox/, as .dockerignore leaves it."""
    copy = tmp_path_factory.mktemp("product")
    shutil.copytree(PACKAGE, copy / "quantop", ignore=shutil.ignore_patterns("sandbox", "__pycache__"))
    return copy


def quantop(product: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    report = product / "report.json"
    report.unlink(missing_ok=True)
    script = RUNNER.format(refused=REFUSED, copy=str(product), report=str(report))
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )
    loaded: dict[str, object] = json.loads(report.read_text())
    return done, loaded


def assert_product_only(loaded: dict[str, object], product: Path) -> None:
    assert str(loaded["quantop"]).startswith(str(product)), f"quantop came from {loaded['quantop']}, not the copy"
    modules = loaded["modules"]
    assert isinstance(modules, list)
    assert not [m for m in modules if m.split(".")[0] in REFUSED or m.startswith("quantop.sandbox")]


def test_quantop_help_lists_the_product_commands_and_no_sandbox_command(product: Path) -> None:
    done, loaded = quantop(product, "--help")
    assert done.returncode == 0, done.stderr
    listed = set(re.findall(r"^    ([a-z][a-z-]*)", done.stdout, flags=re.M))
    assert listed == set(PRODUCT_COMMANDS), done.stdout
    assert_product_only(loaded, product)


@pytest.mark.parametrize("command", [pytest.param(c, id=c) for c in PRODUCT_COMMANDS])
def test_every_product_command_answers_help(product: Path, command: str) -> None:
    done, loaded = quantop(product, command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: quantop {command}"), done.stdout
    assert_product_only(loaded, product)


def test_render_works_without_the_sandbox(product: Path) -> None:
    done, loaded = quantop(product, "render", "-f", "examples/quantizedmodel.yaml")
    assert done.returncode == 0, done.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(done.stdout) if doc}
    assert {"Deployment", "Service"} <= kinds, kinds
    assert_product_only(loaded, product)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in REFUSED])
def test_the_hook_refuses_what_it_claims(product: Path, name: str) -> None:
    """The checks above would pass vacuously if the hook refused nothing, even what the venv has."""
    script = RUNNER.format(refused=REFUSED, copy=str(product), report=str(product / "refused.json"))
    script = script.replace("from quantop.cli import main\nsys.exit(main())", f"import {name}")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 1
    assert f"No module named '{name}' (refused: not in the product)" in done.stderr


def docker_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path, or a folder above it, decides; `!` re-includes."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, p) for p in prefixes):
            ignored = not negated
    return ignored


DOCKERIGNORE = [
    line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and line[0] != "#"
]


@pytest.mark.parametrize(
    ("path", "shipped"),
    [
        pytest.param("operator/quantop/cli.py", True, id="cli"),
        pytest.param("operator/quantop/controller/handlers.py", True, id="controller"),
        pytest.param("operator/quantop/validation/data/text-to-sql.jsonl", True, id="builtin-dataset"),
        pytest.param("pyproject.toml", True, id="pyproject"),
        pytest.param("operator/quantop/sandbox/__init__.py", False, id="sandbox"),
        pytest.param("operator/quantop/sandbox/tgi_emulator/server.py", False, id="tgi-emulator"),
        pytest.param("tools/quantop_build/dashboards.py", False, id="build-tools"),
        pytest.param("tests/conftest.py", False, id="tests"),
    ],
)
def test_dockerignore_ships_the_product_and_not_the_sandbox(path: str, shipped: bool) -> None:
    assert (ROOT / path).exists(), f"{path} is gone: update this table"
    assert docker_ignored(path, DOCKERIGNORE) is not shipped


def test_dockerfile_builds_the_product_without_the_sandbox_or_an_extra() -> None:
    text = (ROOT / "Dockerfile").read_text()
    build = text[: text.index("pip wheel")]
    assert "rm -rf operator/quantop/sandbox" in build, "the build stage must drop the sandbox before the wheel"
    installs = re.findall(r"pip (?:wheel|install)[^\n]*", text)
    assert len(installs) == 2, installs
    assert not [line for line in installs if "[" in line], f"an extra is installed: {installs}"
    assert "find_spec(m) for m in ('quantop.sandbox', 'kmock', 'celpy')" in text, "the image checks what it lacks"
