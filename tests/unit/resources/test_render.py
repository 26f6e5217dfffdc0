"""`quantop render` admits as the operator admits and prints the validation Job the operator would create."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import EXAMPLES, qm

from quantop.api import ConditionType, default_config, get_condition
from quantop.api.spec import ModelSource
from quantop.cli import main
from quantop.planning import ModelInfo, resolve_architecture
from quantop.resources.admission import Admission, admit
from quantop.resources.job import build_validation_job
from quantop.validation.request_cli import request_from_args


def validate_parser() -> argparse.ArgumentParser:
    from quantop.validation.commands import register

    parser = argparse.ArgumentParser(prog="quantop")
    register(parser.add_subparsers(dest="command"))
    return parser


def render(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["render", "-f", str(path), *extra])
    out, err = capsys.readouterr()
    return code, [d for d in yaml.safe_load_all(out) if d], err


def _write(tmp_path: Path, body: dict[str, Any]) -> Path:
    path = tmp_path / "qm.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_render_prints_the_job_the_operator_would_create(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    body = qm(**{"validation.baseline": {"accuracy": 0.7}, "validation.load": {"users": 40}})
    code, docs, _ = render(_write(tmp_path, body), capsys)
    assert code == 0
    (job,) = [d for d in docs if d["kind"] == "Job"]
    verdict = admit(body, default_config(), resolve_architecture)
    assert isinstance(verdict, Admission)
    expected = build_validation_job(
        verdict.ctx,
        verdict.ctx.revision,
        baseline_accuracy=0.7,
        price_per_hour=verdict.price_per_hour,
        weights_gib=verdict.plan.weights_gi_b,
    )
    assert job == expected
    request = request_from_args(validate_parser().parse_args(job["spec"]["template"]["spec"]["containers"][0]["args"]))
    assert request.revision == verdict.ctx.revision and request.load.users == 40
    assert request.gates.baseline_accuracy == 0.7 and request.cost.gpu_price_per_hour == verdict.price_per_hour


def test_render_says_when_the_baseline_comes_from_another_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, docs, err = render(EXAMPLES / "quantizedmodel.yaml", capsys)
    assert code == 0 and docs[-1]["kind"] == "Job"
    assert "--baseline-accuracy" not in docs[-1]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "promoted results" in err
    assert "validation takes about 6m50s" in err  # 10 s + 5 min + 25 accuracy rounds x 4 s
    code, docs, _ = render(EXAMPLES / "quantizedmodel.yaml", capsys, "--no-job")
    assert code == 0 and [d["kind"] for d in docs][-1] != "Job"


async def _operator_says(body: dict[str, Any]) -> tuple[str, str]:
    from quantop.controller.reconcile import reconcile

    async def lookup(model: ModelSource) -> ModelInfo:
        return resolve_architecture(model)

    # A refused object never reaches the cluster: the operator decides before its first request.
    out = await reconcile(body, None, default_config(), resolve_model=lookup)  # type: ignore[arg-type]
    cond = get_condition(out.status.conditions, ConditionType.COMPATIBLE.value)
    assert cond is not None and cond.status.value == "False"
    return cond.reason, cond.message


def _example(name: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((EXAMPLES / name).read_text())
    return next(d for d in docs if d and d.get("kind") == "QuantizedModel")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_example("refused-fp8-on-t4.yaml"), id="fp8-on-t4"),
        pytest.param(_example("refused-70b-on-t4.yaml"), id="70b-on-t4"),
        pytest.param(qm(**{"gpu.type": "b200"}), id="unknown-gpu-profile"),
        pytest.param(qm(**{"serving.maxTotalTokens": 512}), id="invalid-spec"),
        pytest.param(qm(**{"validation.baseline": {"modelRef": "phi35"}}), id="baseline-is-itself"),
        pytest.param(qm(**{"promotion.guard": {"duration": "30m"}}), id="guard-without-prometheus"),
        pytest.param(
            qm(**{"validation.load": {"duration": "2m"}, "validation.timeout": "2m"}), id="load-past-deadline"
        ),
    ],
)
def test_render_refuses_what_the_operator_refuses_with_the_same_message(
    body: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, docs, err = render(_write(tmp_path, body), capsys)
    reason, message = asyncio.run(_operator_says(body))
    assert code == 2 and docs == []
    name = body["metadata"]["name"]
    assert err.strip().splitlines()[-1] == f"quantop render: {name}: {reason}: {' '.join(message.split())}"
