"""Builders are pure: spec + profile in, manifests out. Every built-in kind validates on Kubernetes 1.29-1.33."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from tests.conftest import phi35_spec

from quantop.api import default_config, parse_spec
from quantop.resources import (
    NO_REVISION,
    UnknownGpuProfile,
    build_all,
    build_deployment,
    build_stable_service,
    make_context,
    revision_of,
    tgi_args,
)
from quantop.validation.request_cli import request_from_args

K8S_VERSIONS = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"]


def ctx_for(**overrides: Any):  # type: ignore[no-untyped-def]
    return make_context("phi35", "llm", "1234-uid", parse_spec(phi35_spec(**overrides)), default_config())


def _arg(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="eetq-a10"),
        pytest.param({"quantization.method": "none", "gpu.count": 2, "gpu.type": "a100-80gb"}, id="sharded"),
        pytest.param({"model.tokenSecretRef": {"name": "hf-token", "key": "token"}}, id="with-token"),
    ],
)
def test_built_in_kinds_validate_strictly(version: str, overrides: dict[str, Any]) -> None:
    for manifest in build_all(ctx_for(**overrides), stable_revision="abc123", pod_monitor=False):
        kubernetes_validate.validate(manifest, version, strict=True)


def test_tgi_args_follow_the_spec() -> None:
    args = tgi_args(ctx_for(**{"quantization.dtype": "bfloat16", "serving.maxBatchPrefillTokens": 4096}))
    assert _arg(args, "--model-id") == "microsoft/Phi-3.5-mini-instruct"
    assert _arg(args, "--revision") == "main"
    assert _arg(args, "--quantize") == "eetq"
    assert _arg(args, "--dtype") == "bfloat16"
    assert _arg(args, "--max-input-tokens") == "1024"
    assert _arg(args, "--max-total-tokens") == "2048"
    assert _arg(args, "--max-batch-prefill-tokens") == "4096"
    assert "--num-shard" not in args


def test_unquantized_baseline_passes_no_quantize_flag_and_shards_when_asked() -> None:
    args = tgi_args(ctx_for(**{"quantization.method": "none", "gpu.count": 2}))
    assert "--quantize" not in args
    assert _arg(args, "--num-shard") == "2"


def test_token_comes_from_the_secret_and_never_appears_in_args() -> None:
    dep = build_deployment(ctx_for(**{"model.tokenSecretRef": {"name": "hf-token", "key": "tok"}}))
    container = dep["spec"]["template"]["spec"]["containers"][0]
    hf = [e for e in container["env"] if e["name"] == "HF_TOKEN"]
    assert hf == [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "tok"}}}]
    assert "hf-token" not in json.dumps(container["args"])


def test_gpu_profile_drives_scheduling_and_limits() -> None:
    dep = build_deployment(ctx_for(**{"gpu.type": "t4", "gpu.count": 2, "quantization.method": "none"}))
    pod = dep["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "Tesla-T4"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"


def test_startup_probe_budget_covers_the_startup_timeout() -> None:
    dep = build_deployment(ctx_for(**{"serving.startupTimeout": "45m"}))
    probe = dep["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert probe["httpGet"]["path"] == "/health"
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 45 * 60


def test_everything_is_owned_and_labelled() -> None:
    ctx = ctx_for()
    for manifest in build_all(ctx, stable_revision=None):
        meta = manifest["metadata"]
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "quantop.dev/v1alpha1",
                "kind": "QuantizedModel",
                "name": "phi35",
                "uid": "1234-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "quantop"
        assert meta["labels"]["quantop.dev/model"] == "phi35"
        assert meta["namespace"] == "llm"


def test_deployment_and_revision_service_are_named_by_revision() -> None:
    ctx = ctx_for()
    dep, svc, _stable = build_all(ctx, stable_revision=None, pod_monitor=False)
    assert dep["metadata"]["name"] == svc["metadata"]["name"] == f"phi35-{ctx.revision}"
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels[k] == v for k, v in svc["spec"]["selector"].items())
    assert all(pod_labels[k] == v for k, v in dep["spec"]["selector"]["matchLabels"].items())
    assert pod_labels["quantop.dev/quantization"] == "eetq"


def test_stable_service_selects_nothing_before_a_promotion() -> None:
    ctx = ctx_for()
    before = build_stable_service(ctx, None)
    assert before["metadata"]["name"] == "phi35"
    assert before["spec"]["selector"]["quantop.dev/revision"] == NO_REVISION
    after = build_stable_service(ctx, "abc123")
    assert after["spec"]["selector"]["quantop.dev/revision"] == "abc123"


@pytest.mark.parametrize(
    ("change", "new_revision"),
    [
        pytest.param({"quantization.method": "fp8"}, True, id="method"),
        pytest.param({"model.revision": "v2"}, True, id="model-revision"),
        pytest.param({"serving.image": "tgi:other"}, True, id="image"),
        pytest.param({"serving.maxTotalTokens": 4096}, True, id="token-limit"),
        pytest.param({"gpu.type": "l4"}, True, id="gpu"),
        pytest.param({"serving.replicas": 5}, False, id="replicas"),
        pytest.param({"validation.slo.p95LatencyMs": 100}, False, id="slo"),
        pytest.param({"promotion.auto": False}, False, id="promotion"),
    ],
)
def test_revision_changes_only_with_what_serves(change: dict[str, Any], new_revision: bool) -> None:
    base = revision_of(parse_spec(phi35_spec()))
    assert (revision_of(parse_spec(phi35_spec(**change))) != base) is new_revision


def test_unknown_gpu_profile_names_the_known_ones() -> None:
    with pytest.raises(UnknownGpuProfile) as err:
        ctx_for(**{"gpu.type": "b200"})
    assert "'b200'" in str(err.value) and "a10" in str(err.value) and "gpuProfiles" in str(err.value)


def test_names_too_long_for_revision_services_are_refused() -> None:
    from quantop.api import SpecError

    with pytest.raises(SpecError, match="at most 56"):
        make_context("x" * 60, "llm", "uid", parse_spec(phi35_spec()), default_config())


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_validation_job_validates_and_carries_the_gates(version: str) -> None:
    from quantop.resources.job import build_validation_job

    ctx = ctx_for(
        **{
            "validation.accuracy.dataset": {"configMapRef": {"name": "sql-holdout", "key": "rows.jsonl"}},
            "validation.slo": {"p95LatencyMs": 6000, "p99LatencyMs": 8000, "minRequestsPerSecond": 15},
            "validation.timeout": "45m",
        }
    )
    job = build_validation_job(ctx, ctx.revision, baseline_accuracy=0.62, price_per_hour=1.624, weights_gib=3.9)
    kubernetes_validate.validate(job, version, strict=True)
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == 45 * 60
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    args = pod["containers"][0]["args"]
    assert args[:3] == ["validate", "--endpoint", f"http://phi35-{ctx.revision}.llm.svc:80"]
    assert _arg(args, "--slo-p95-ms") == "6000"
    assert _arg(args, "--slo-min-rps") == "15"
    assert _arg(args, "--baseline-accuracy") == "0.62"
    assert _arg(args, "--dataset") == "/var/run/quantop/dataset/rows.jsonl"
    assert _arg(args, "--termination-log") == "/dev/termination-log"
    assert {"name": "dataset", "configMap": {"name": "sql-holdout"}} in pod["volumes"]


def _validate_parser() -> argparse.ArgumentParser:
    from quantop.validation.commands import register  # the real `quantop validate` parser

    parser = argparse.ArgumentParser(prog="quantop")
    register(parser.add_subparsers(dest="command"))
    return parser


@pytest.mark.parametrize(
    ("overrides", "workers"),
    [
        ({}, "1"),
        ({"validation.load": {"users": 2500}}, "3"),
        ({"validation.load": {"users": 100, "workers": 4}}, "4"),
    ],
)
def test_job_arguments_are_what_quantop_validate_accepts(overrides: dict[str, Any], workers: str) -> None:
    """The Job's command line is the contract with `quantop validate`: its own parser must accept it."""
    from quantop.resources.job import build_validation_job

    ctx = ctx_for(**{"validation.slo": {"p95LatencyMs": 6000, "ttftP95Ms": 500, "maxErrorRate": 0.01}, **overrides})
    job = build_validation_job(ctx, ctx.revision, baseline_accuracy=0.62, price_per_hour=1.624, weights_gib=3.9)
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = _validate_parser().parse_args(container["args"])
    request = request_from_args(args)
    assert request.gates.p95_ms == 6000 and request.gates.ttft_p95_ms == 500
    assert request.gates.baseline_accuracy == 0.62
    assert args.termination_log == Path("/dev/termination-log") and args.no_progress
    assert _arg(container["args"], "--workers") == workers
    processes = int(workers) + 1 if workers != "1" else 1  # locust master + workers
    assert container["resources"]["requests"]["cpu"] == str(processes)
