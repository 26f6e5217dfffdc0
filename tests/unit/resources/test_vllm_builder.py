"""The vLLM Deployment: `vllm serve` flags from the spec, the same pod as TGI's, strict Kubernetes validation;
and the revision hash: engine and vLLM arguments enter it, TGI revisions keep the hashes they had."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from tests.conftest import phi35_spec

from quantop.api import default_config, parse_duration, parse_spec
from quantop.api.spec import DEFAULT_VLLM_IMAGE
from quantop.resources import build_all, build_deployment, make_context, revision_of
from quantop.resources.job import validation_request
from quantop.resources.vllm import VLLM_PORT, vllm_args

K8S_VERSIONS = ["1.29.0", "1.33.0"]
VLLM = {"engine": "vllm", "quantization.method": "fp8"}
TOKEN = {"model.tokenSecretRef": {"name": "hf-token", "key": "token"}}


def ctx_for(**overrides: Any):  # type: ignore[no-untyped-def]
    return make_context("phi35", "llm", "1234-uid", parse_spec(phi35_spec(**overrides)), default_config())


def _arg(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _container(ctx: Any) -> dict[str, Any]:
    return build_deployment(ctx)["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(VLLM, id="fp8-a10"),
        pytest.param({**VLLM, **TOKEN, "gpu.type": "h100", "gpu.count": 2}, id="tensor-parallel-with-token"),
        pytest.param({**VLLM, "quantization.method": "bitsandbytes", "vllm": {"kvCacheDtype": "fp8"}}, id="bnb-kv-fp8"),
    ],
)
def test_vllm_objects_validate_strictly(version: str, overrides: dict[str, Any]) -> None:
    for manifest in build_all(ctx_for(**overrides), stable_revision="abc123", pod_monitor=False):
        kubernetes_validate.validate(manifest, version, strict=True)


FLAGS = [
    pytest.param(
        VLLM, {"--quantization": "fp8", "--max-model-len": "2048", "--gpu-memory-utilization": "0.9"}, id="fp8"
    ),
    pytest.param({**VLLM, "quantization.method": "none"}, {"--quantization": None}, id="unquantized-no-flag"),
    pytest.param({**VLLM, "quantization.method": "awq_marlin"}, {"--quantization": "awq_marlin"}, id="awq-marlin"),
    pytest.param({**VLLM, "quantization.dtype": "bfloat16"}, {"--dtype": "bfloat16"}, id="dtype"),
    pytest.param({**VLLM, "serving.maxTotalTokens": 4096}, {"--max-model-len": "4096"}, id="max-model-len"),
    pytest.param({**VLLM, "vllm": {"gpuMemoryUtilization": 0.85}}, {"--gpu-memory-utilization": "0.85"}, id="util"),
    pytest.param({**VLLM, "vllm": {"maxNumSeqs": 64}}, {"--max-num-seqs": "64"}, id="max-num-seqs"),
    pytest.param(VLLM, {"--max-num-seqs": None, "--kv-cache-dtype": None}, id="vllm-defaults-not-passed"),
    pytest.param({**VLLM, "vllm": {"kvCacheDtype": "fp8"}}, {"--kv-cache-dtype": "fp8"}, id="kv-cache-fp8"),
    pytest.param({**VLLM, "gpu.count": 4}, {"--tensor-parallel-size": "4"}, id="tensor-parallel"),
    pytest.param(VLLM, {"--tensor-parallel-size": None}, id="one-gpu-no-tp"),
    pytest.param({**VLLM, "serving.maxBatchPrefillTokens": 8192}, {"--max-num-batched-tokens": "8192"}, id="prefill"),
    pytest.param({**VLLM, "model.revision": "v1.2"}, {"--revision": "v1.2", "--port": "8000"}, id="revision-port"),
]


@pytest.mark.parametrize(("overrides", "expected"), FLAGS)
def test_vllm_flags_follow_the_spec(overrides: dict[str, Any], expected: dict[str, str | None]) -> None:
    args = vllm_args(ctx_for(**overrides))
    # `vllm serve` takes the model positionally; --model is deprecated there.
    assert args[0] == "microsoft/Phi-3.5-mini-instruct" and "--model" not in args
    assert {flag: _arg(args, flag) for flag in expected} == expected


def test_token_comes_from_the_secret_and_never_appears_in_args() -> None:
    c = _container(ctx_for(**VLLM, **TOKEN))
    env = {e["name"]: e for e in c["env"]}
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert "hf-token" not in " ".join(c["args"]) and "token" not in " ".join(c["args"]).lower()
    assert "HF_TOKEN" not in {e["name"] for e in _container(ctx_for(**VLLM))["env"]}


def test_container_serves_on_8000_with_health_probes_and_the_model_volumes() -> None:
    ctx = ctx_for(**VLLM, **{"serving.startupTimeout": "45m"})
    c = _container(ctx)
    assert c["name"] == "vllm" and c["image"] == DEFAULT_VLLM_IMAGE
    assert c["ports"] == [{"name": "http", "containerPort": VLLM_PORT, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= parse_duration("45m")
    assert startup["periodSeconds"] * (startup["failureThreshold"] - 1) < parse_duration("45m")
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/dev/shm", "/data"}
    assert {"name": "HF_HOME", "value": "/data"} in c["env"]
    pod = build_deployment(ctx)["spec"]["template"]["spec"]
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}} in pod["volumes"]


def test_gpu_profile_drives_scheduling_and_limits() -> None:
    ctx = ctx_for(**VLLM, **{"gpu.type": "h100", "gpu.count": 2})
    pod = build_deployment(ctx)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == ctx.profile.node_selector
    assert pod["tolerations"] == [t.model_dump(by_alias=True, exclude_none=True) for t in ctx.profile.tolerations]
    assert pod["containers"][0]["resources"]["limits"] == {ctx.profile.resource_name: "2"}


def test_stable_service_reaches_vllm_through_the_named_port() -> None:
    objects = {o["kind"]: o for o in build_all(ctx_for(**VLLM), stable_revision="abc123", pod_monitor=False)}
    port = objects["Service"]["spec"]["ports"][0]
    assert port["targetPort"] == "http"
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0] == {"name": "http", "containerPort": 8000, "protocol": "TCP"}


TGI_IMAGE_335 = "ghcr.io/huggingface/text-generation-inference:3.3.5"


@pytest.mark.parametrize(
    ("overrides", "before"),
    [
        # Hashes computed by quantop before spec.engine existed (commit d5833ee): they must not move.
        pytest.param({"serving.image": TGI_IMAGE_335}, "5b67eb", id="stored-default"),
        pytest.param(
            {"serving.image": TGI_IMAGE_335, "quantization.method": "fp8", "gpu.count": 2}, "2e5e3c", id="sharded"
        ),
        pytest.param({"serving.image": "my/tgi:1", "serving.maxBatchPrefillTokens": 4096}, "9b23d6", id="own-image"),
    ],
)
def test_tgi_revisions_keep_their_hashes(overrides: dict[str, Any], before: str) -> None:
    assert revision_of(parse_spec(phi35_spec(**overrides))) == before
    assert revision_of(parse_spec(phi35_spec(**overrides, engine="tgi"))) == before


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param({"quantization.method": "fp8"}, VLLM, False, id="tgi-to-vllm-is-a-new-revision"),
        pytest.param(VLLM, {**VLLM, "vllm": {"gpuMemoryUtilization": 0.8}}, False, id="utilization"),
        pytest.param(VLLM, {**VLLM, "vllm": {"kvCacheDtype": "fp8"}}, False, id="kv-cache-dtype"),
        pytest.param(VLLM, {**VLLM, "vllm": {"maxNumSeqs": 32}}, False, id="max-num-seqs"),
        pytest.param(VLLM, {**VLLM, "vllm": {"gpuMemoryUtilization": 0.9}}, True, id="explicit-default-is-omitted"),
        pytest.param(VLLM, {**VLLM, "serving.image": DEFAULT_VLLM_IMAGE}, True, id="pinned-image-is-unset-image"),
        pytest.param(VLLM, {**VLLM, "serving.replicas": 3}, True, id="replicas-apply-in-place"),
    ],
)
def test_engine_and_vllm_arguments_enter_the_revision(a: dict[str, Any], b: dict[str, Any], same: bool) -> None:
    assert (revision_of(parse_spec(phi35_spec(**a))) == revision_of(parse_spec(phi35_spec(**b)))) is same


def test_vllm_pods_name_their_engine_and_tgi_pods_keep_their_labels() -> None:
    vllm = build_deployment(ctx_for(**VLLM))["spec"]["template"]["metadata"]["labels"]
    assert vllm["app.kubernetes.io/name"] == "vllm" and vllm["quantop.dev/engine"] == "vllm"
    tgi = build_deployment(ctx_for())["spec"]["template"]["metadata"]["labels"]
    assert tgi["app.kubernetes.io/name"] == "tgi" and "quantop.dev/engine" not in tgi


@pytest.mark.parametrize(
    ("overrides", "api", "served"),
    [
        pytest.param(VLLM, "openai", "microsoft/Phi-3.5-mini-instruct", id="vllm-openai-routes"),
        pytest.param({}, "generate", "tgi", id="tgi-native-routes"),
    ],
)
def test_the_validation_job_measures_each_engine_through_its_routes(
    overrides: dict[str, Any], api: str, served: str
) -> None:
    request = validation_request(ctx_for(**overrides), "abc123", baseline_accuracy=None, price_per_hour=None)
    assert (request.api, request.served_model) == (api, served)
    assert request.label == ("vllm-fp8" if api == "openai" else "eetq")  # a migration's rows stay apart
