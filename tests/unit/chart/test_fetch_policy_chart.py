"""config.fetch in Helm values reaches both fetching processes: the operator (its config file) and each Job (env).

The chart renders the values into the operator's config.yaml; the operator reads its policy from
that file; the validation Job it builds carries the same policy as environment variables, which
`quantop validate` reads. Both then refuse the same address.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import phi35_spec

from quantop.api import OperatorConfig, parse_spec
from quantop.api.fetch_policy import FetchPolicy
from quantop.resources import make_context
from quantop.resources.job import build_validation_job
from quantop.validation import fetch as fetch_module
from quantop.validation.fetch import FetchError, FetchLimits, fetch_sync

ROOT = Path(__file__).resolve().parents[3]
HELM = shutil.which("helm", path=str(ROOT / ".tools" / "bin")) or shutil.which("helm")
POLICY = {"redirectHosts": ["cdn.example.org"], "deniedNetworks": ["private", "192.0.2.0/24"]}


def helm_template(tmp: Path, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    assert HELM, "helm missing: run scripts/install-tools.sh (make test does)"
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return subprocess.run(
        [HELM, "template", "qo", str(ROOT / "charts" / "quantop"), "-n", "quantop-system", "-f", str(path)],
        capture_output=True,
        text=True,
    )


def rendered_config(tmp: Path, values: dict[str, Any]) -> Path:
    out = helm_template(tmp, values)
    assert out.returncode == 0, out.stderr
    (cm,) = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "ConfigMap" and "config.yaml" in d["data"]]
    path = tmp / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    return path


def job_env(config: OperatorConfig) -> dict[str, str]:
    ctx = make_context("phi35", "llm", "uid", parse_spec(phi35_spec()), config)
    job = build_validation_job(ctx, "abc123", baseline_accuracy=None, price_per_hour=None)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def refuses_private_address() -> bool:
    async def resolver(host: str, port: int) -> list[str]:
        return ["10.1.2.3"]

    try:
        fetch_sync("http://inside.test/x.jsonl", FetchLimits(deadline_s=30.0), resolver=resolver)
    except FetchError as exc:
        return "fetch.deniedNetworks" in str(exc)
    raise AssertionError("nothing listens at the resolved address: the fetch cannot have succeeded")


@pytest.fixture(autouse=True)
def clean_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QUANTOP_CONFIG", "QUANTOP_FETCH_REDIRECT_HOSTS", "QUANTOP_FETCH_DENIED_NETWORKS"):
        monkeypatch.delenv(name, raising=False)
    fetch_module._config_policy.cache_clear()


def test_the_values_reach_the_operator_and_its_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = rendered_config(tmp_path, {"config": {"fetch": POLICY}})
    config = OperatorConfig.load(path)
    assert config.fetch == FetchPolicy.model_validate(POLICY)

    monkeypatch.setenv("QUANTOP_CONFIG", str(path))  # the operator: `quantop run --config` sets it
    operator = FetchLimits()
    assert refuses_private_address()

    monkeypatch.delenv("QUANTOP_CONFIG")  # a Job: no config file, the env the operator gave it
    env = job_env(config)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    job = FetchLimits()
    assert (job.redirect_hosts, job.denied_networks) == (operator.redirect_hosts, operator.denied_networks)
    assert job.redirect_hosts == {"cdn.example.org"}
    assert refuses_private_address()


def test_by_default_jobs_get_an_empty_policy_and_private_addresses_are_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = job_env(OperatorConfig.load(rendered_config(tmp_path, {})))
    assert (env["QUANTOP_FETCH_REDIRECT_HOSTS"], env["QUANTOP_FETCH_DENIED_NETWORKS"]) == ("", "")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert FetchLimits().denied_networks == ()


@pytest.mark.parametrize(
    "fetch",
    [
        pytest.param({"deniedNetworks": ["intranet"]}, id="unknown-alias"),
        pytest.param({"deniedNetworks": ["10.0.0.0/8,192.168.0.0/16"]}, id="comma-list-in-one-entry"),
        pytest.param({"redirectHosts": ["https://cdn.example.org/"]}, id="url-not-host"),
        pytest.param({"denyPrivate": True}, id="unknown-key"),
    ],
)
def test_the_chart_refuses_malformed_policies(tmp_path: Path, fetch: dict[str, Any]) -> None:
    out = helm_template(tmp_path, {"config": {"fetch": fetch}})
    assert out.returncode != 0 and "fetch" in out.stderr
