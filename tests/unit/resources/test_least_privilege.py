"""Least privilege for what the operator creates: allowed images, allowed Secrets, hardened pods.

Tables of hostile image references and Secret names against the operator's config, the same refusal from
`quantop render` and from the operator, and the serving pods' securityContext validated by kubernetes-validate.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.conftest import ROOT, phi35_spec, qm

from quantop.api import ConditionType, default_config, get_condition, parse_spec
from quantop.api.config import OperatorConfig, secret_pattern_matches
from quantop.api.image_ref import ImageRefError, parse_image_ref, parse_repository_pattern
from quantop.api.spec import DEFAULT_VLLM_IMAGE, ModelSource
from quantop.cli import main
from quantop.planning import ModelInfo, resolve_architecture
from quantop.resources import build_deployment, make_context
from quantop.resources.admission import Admission, Refusal, admit, admit_async
from quantop.resources.job import build_validation_job
from quantop.resources.policy import IMAGE_NOT_ALLOWED, SECRET_NOT_ALLOWED, image_refusal, secret_refusal

TGI = "ghcr.io/huggingface/text-generation-inference"
DIGEST = "sha256:" + "0123456789abcdef" * 4
K8S_VERSIONS = ["1.29.0", "1.33.0"]

# ---------------------------------------------------------------- image references


IMAGES = [
    pytest.param(f"{TGI}:3.3.7", True, None, id="tgi-release"),
    pytest.param(f"{TGI}@{DIGEST}", True, None, id="tgi-by-digest"),
    pytest.param(f"{TGI}:3.3.7@{DIGEST}", True, None, id="tgi-tag-and-digest"),
    pytest.param(TGI, True, None, id="tgi-no-tag"),
    pytest.param("GHCR.IO/huggingface/text-generation-inference:3.3.7", True, None, id="registry-case-is-dns-case"),
    pytest.param(DEFAULT_VLLM_IMAGE, True, None, id="vllm-without-registry-is-docker-hub"),
    pytest.param("docker.io/vllm/vllm-openai:v0.30.0", True, None, id="vllm-with-registry"),
    pytest.param("index.docker.io/vllm/vllm-openai:latest", True, None, id="docker-hub-legacy-name"),
    pytest.param(f"{TGI}.evil.com/x:1", False, "not in the operator's allowed images", id="prefix-then-more-path"),
    pytest.param(f"{TGI}-evil:1", False, "not in the operator's allowed images", id="prefix-of-repository-name"),
    pytest.param(f"{TGI}/sub:1", False, "not in the operator's allowed images", id="below-an-exact-entry"),
    pytest.param("ghcr.io.evil.com/huggingface/text-generation-inference:3.3.7", False, "allowed", id="lookalike-host"),
    pytest.param("ghcr.io:443/huggingface/text-generation-inference:3.3.7", False, "allowed", id="registry-with-port"),
    pytest.param("evil.com/ghcr.io/huggingface/text-generation-inference", False, "allowed", id="host-path-in-path"),
    pytest.param("ghcr.io/HuggingFace/text-generation-inference", False, "'HuggingFace'", id="upper-case-path"),
    pytest.param("Vllm/vllm-openai:v0.30.0", False, "repository vllm/vllm-openai", id="upper-case-first-is-a-host"),
    pytest.param("text-generation-inference:3.3.7", False, "docker.io/library/text-generation-inference", id="hub"),
    pytest.param("ghcr.io/huggingface/../x:1", False, "'..'", id="dot-dot"),
    pytest.param("ghcr.io//huggingface/text-generation-inference", False, "component ''", id="empty-component"),
    pytest.param(f"https://{TGI}:3.3.7", False, "registry 'https:'", id="url-scheme"),
    pytest.param(f"{TGI}@sha256:abc", False, "digest must be", id="short-digest"),
    pytest.param(f"{TGI}@{DIGEST.upper()}", False, "digest must be", id="upper-case-digest"),
    pytest.param(f"{TGI}:-x", False, "tag '-x'", id="tag-starting-with-dash"),
    pytest.param(f"{TGI}:{'a' * 129}", False, "tag", id="tag-too-long"),
    pytest.param(f"{TGI}:3.3.7 --privileged", False, "printable ASCII", id="space"),
    pytest.param(f"{TGI}:3.3.7\n", False, "printable ASCII", id="newline"),
    pytest.param(f"{TGI}:3.3.7\u200b", False, "printable ASCII", id="zero-width-space"),
    pytest.param(f"ghcr.io/{'a/' * 130}x", False, "longer than 255", id="name-too-long"),
]


def with_image(image: str) -> Any:
    return parse_spec(phi35_spec(**{"serving.image": image}))


@pytest.mark.parametrize(("image", "allowed", "says"), IMAGES)
def test_only_allowed_repositories_may_serve(image: str, allowed: bool, says: str | None) -> None:
    refusal = image_refusal(with_image(image), default_config())
    if allowed:
        assert refusal is None
        return
    assert refusal is not None and says is not None and says in refusal
    assert "\n" not in refusal and "spec.serving.image" in refusal


def test_a_refusal_names_the_allowed_list_and_the_helm_value() -> None:
    refusal = image_refusal(with_image("quay.io/someone/tgi:1"), default_config())
    assert refusal is not None
    assert f"({TGI}, docker.io/vllm/vllm-openai)" in refusal and "config.allowedImages" in refusal


def config_allowing(*entries: str, secrets: dict[str, list[str]] | None = None) -> OperatorConfig:
    data: dict[str, Any] = {"gpuProfiles": {"a10": {"gpu": "a10"}}, "allowedImages": list(entries)}
    if secrets is not None:
        data["allowedSecrets"] = secrets
    return OperatorConfig.model_validate(data)


@pytest.mark.parametrize(
    ("entries", "image", "allowed"),
    [
        pytest.param(["registry.example.com/mirror/*"], "registry.example.com/mirror/tgi:1", True, id="subtree"),
        pytest.param(["registry.example.com/mirror/*"], "registry.example.com/mirror/a/b:1", True, id="deep"),
        pytest.param(["registry.example.com/mirror/*"], "registry.example.com/mirror-evil/tgi:1", False, id="sibling"),
        pytest.param(["registry.example.com/mirror/*"], "registry.example.com/mirror:1", False, id="the-path-itself"),
        pytest.param(["registry.example.com/*"], "registry.example.com/x/y:1", True, id="whole-registry"),
        pytest.param(["registry.example.com/*"], "registry.example.com.evil.io/x:1", False, id="registry-lookalike"),
        pytest.param(["localhost:5000/*"], "localhost:5000/tgi:1", True, id="registry-with-port"),
        pytest.param(["localhost:5000/*"], "localhost:5001/tgi:1", False, id="other-port"),
        pytest.param(["python"], "docker.io/library/python:3.11", True, id="official-image-either-spelling"),
        pytest.param([], f"{TGI}:3.3.7", False, id="empty-list-refuses-all"),
    ],
)
def test_allow_list_entries(entries: list[str], image: str, allowed: bool) -> None:
    assert (image_refusal(with_image(image), config_allowing(*entries)) is None) == allowed


def test_the_default_image_is_judged_too() -> None:
    spec = parse_spec(phi35_spec())  # no spec.serving.image: the engine's pinned release
    refusal = image_refusal(spec, config_allowing("registry.example.com/*"))
    assert refusal is not None and refusal.startswith("the default tgi image")
    assert image_refusal(spec, default_config()) is None
    vllm = parse_spec(phi35_spec(**{"engine": "vllm", "quantization.method": "fp8"}))
    assert image_refusal(vllm, default_config()) is None


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        pytest.param("ghcr.io/org/x:1", "without a tag or digest", id="tag"),
        pytest.param(f"ghcr.io/org/x@{DIGEST}", "without a tag or digest", id="digest"),
        pytest.param("vllm/*", "start with the registry", id="subtree-without-registry"),
        pytest.param("*", "would admit any image", id="everything"),
        pytest.param("https://ghcr.io/org", "registry 'https:'", id="url"),
        pytest.param("ghcr.io/Org/*", "not a valid path", id="upper-case-subtree"),
        pytest.param("ghcr.io/org/../*", "not a valid path", id="dot-dot-subtree"),
        pytest.param("ghcr.io/org x", "printable ASCII", id="space"),
    ],
)
def test_bad_allow_list_entries_fail_the_config_load(entry: str, says: str) -> None:
    with pytest.raises(ImageRefError, match=re.escape(says)):
        parse_repository_pattern(entry)
    with pytest.raises(ValueError, match=re.escape(says)):
        config_allowing(entry)


def test_parsed_reference_normalizes_like_a_runtime() -> None:
    assert parse_image_ref("python").repository == "docker.io/library/python"
    assert parse_image_ref("vllm/vllm-openai").repository == "docker.io/vllm/vllm-openai"
    ref = parse_image_ref("localhost:5000/a/b:1@" + DIGEST)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "a/b", "1", DIGEST)


# ---------------------------------------------------------------- Secrets


SECRETS = [
    pytest.param("hf-token", "llm", None, True, id="the-conventional-name"),
    pytest.param("hf-token-team-a", "llm", None, True, id="a-suffix"),
    pytest.param("hf-tokens", "llm", None, True, id="glob-suffix"),
    pytest.param("aws-credentials", "llm", None, False, id="another-secret"),
    pytest.param("default-token-x7k2p", "llm", None, False, id="service-account-token"),
    pytest.param("my-hf-token", "llm", None, False, id="pattern-is-anchored"),
    pytest.param("hf-toke", "llm", None, False, id="shorter"),
    pytest.param("team-a-hf", "team-a", {"team-a": ["team-a-hf"]}, True, id="namespace-entry"),
    pytest.param("team-a-hf", "team-b", {"team-a": ["team-a-hf"]}, False, id="not-in-another-namespace"),
    pytest.param("hf-token", "team-b", {"team-a": ["team-a-hf"]}, False, id="no-star-entry-means-none"),
    pytest.param("hf.token", "llm", {"*": ["hf-token"]}, False, id="dot-is-literal"),
    pytest.param("hfxtoken", "llm", {"*": ["hf.token"]}, False, id="dot-is-not-a-wildcard"),
    pytest.param("anything", "llm", {"*": ["*"]}, True, id="admin-allows-all"),
    pytest.param("hf-token", "llm", {}, False, id="empty-map-refuses-all"),
]


@pytest.mark.parametrize(("name", "namespace", "allowed_secrets", "allowed"), SECRETS)
def test_only_allowed_secrets_may_be_referenced(
    name: str, namespace: str, allowed_secrets: dict[str, list[str]] | None, allowed: bool
) -> None:
    config = config_allowing(TGI) if allowed_secrets is None else config_allowing(TGI, secrets=allowed_secrets)
    spec = parse_spec(phi35_spec(**{"model.tokenSecretRef": {"name": name, "key": "token"}}))
    refusal = secret_refusal(spec, namespace, config)
    assert (refusal is None) == allowed
    if refusal is not None:
        assert f"Secret {name!r}" in refusal and namespace in refusal and "config.allowedSecrets" in refusal
        assert "\n" not in refusal


def test_no_token_needs_no_allowance() -> None:
    assert secret_refusal(parse_spec(phi35_spec()), "llm", config_allowing(TGI, secrets={})) is None


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        pytest.param("hf-*-token", "hf-a-b-token", True, id="inner-star"),
        pytest.param("hf-*-token", "hf-token", False, id="inner-star-needs-the-dashes"),
        pytest.param("*-hf", "team-a-hf", True, id="leading-star"),
        pytest.param("a*b*c", "abc", True, id="stars-match-empty"),
    ],
)
def test_secret_patterns(pattern: str, name: str, matches: bool) -> None:
    assert secret_pattern_matches(pattern, name) == matches


@pytest.mark.parametrize(
    "secrets",
    [
        pytest.param({"*": ["hf_token"]}, id="underscore"),
        pytest.param({"*": ["HF-TOKEN"]}, id="upper-case"),
        pytest.param({"*": ["hf-[a-z]"]}, id="brackets"),
        pytest.param({"*": ["hf-?"]}, id="question-mark"),
        pytest.param({"Team": ["x"]}, id="bad-namespace"),
        pytest.param({"a/b": ["x"]}, id="slash-namespace"),
    ],
)
def test_bad_secret_patterns_fail_the_config_load(secrets: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError, match="allowedSecrets"):
        config_allowing(TGI, secrets=secrets)


# ---------------------------------------------------------------- one admission for the operator and render


def lookup(model: ModelSource) -> ModelInfo:
    return resolve_architecture(model)


async def lookup_async(model: ModelSource) -> ModelInfo:
    return resolve_architecture(model)


REFUSED = [
    pytest.param(qm(**{"serving.image": "docker.io/attacker/miner:1"}), IMAGE_NOT_ALLOWED, id="image"),
    pytest.param(qm(**{"serving.image": f"{TGI}.evil.com/x"}), IMAGE_NOT_ALLOWED, id="lookalike-image"),
    pytest.param(qm(**{"model.tokenSecretRef": {"name": "db-password"}}), SECRET_NOT_ALLOWED, id="secret"),
    pytest.param(
        qm(**{"serving.image": "evil.io/x:1", "model.tokenSecretRef": {"name": "db-password"}}),
        IMAGE_NOT_ALLOWED,
        id="both-image-first",
    ),
]


@pytest.mark.parametrize(("body", "reason"), REFUSED)
def test_admission_refuses_with_the_reason(body: dict[str, Any], reason: str) -> None:
    verdict = admit(body, default_config(), lookup)
    assert isinstance(verdict, Refusal) and verdict.reason == reason and verdict.plan is None
    assert asyncio.run(admit_async(body, default_config(), lookup_async)) == verdict


def test_admission_admits_the_allowed() -> None:
    body = qm(**{"serving.image": f"{TGI}@{DIGEST}", "model.tokenSecretRef": {"name": "hf-token"}})
    assert isinstance(admit(body, default_config(), lookup), Admission)


async def _operator_says(body: dict[str, Any], config: OperatorConfig) -> tuple[str, str]:
    from quantop.controller.reconcile import reconcile

    out = await reconcile(body, None, config, resolve_model=lookup_async)  # type: ignore[arg-type]
    cond = get_condition(out.status.conditions, ConditionType.COMPATIBLE.value)
    assert cond is not None and cond.status.value == "False"
    return cond.reason, cond.message


@pytest.mark.parametrize(("body", "reason"), REFUSED)
def test_render_refuses_what_the_operator_refuses(
    body: dict[str, Any], reason: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "qm.yaml"
    path.write_text(yaml.safe_dump(body))
    code = main(["render", "-f", str(path)])
    out, err = capsys.readouterr()
    said_reason, message = asyncio.run(_operator_says(body, default_config()))
    assert code == 2 and [d for d in yaml.safe_load_all(out) if d] == []
    assert said_reason == reason
    assert err.strip().splitlines()[-1] == f"quantop render: phi35: {reason}: {' '.join(message.split())}"


def test_render_admits_what_its_config_allows(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    body = qm(**{"serving.image": "registry.example.com/mirror/tgi:3.3.7", "model.tokenSecretRef": {"name": "m"}})
    (tmp_path / "qm.yaml").write_text(yaml.safe_dump(body))
    config = yaml.safe_load((ROOT / "operator/quantop/api/default-config.yaml").read_text())
    config |= {"allowedImages": ["registry.example.com/mirror/*"], "allowedSecrets": {"llm": ["m"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["render", "-f", str(tmp_path / "qm.yaml"), "--config", str(tmp_path / "config.yaml")]) == 0
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/mirror/tgi:3.3.7"


# ---------------------------------------------------------------- hardened pods


def ctx_for(**overrides: Any):  # type: ignore[no-untyped-def]
    return make_context("phi35", "llm", "uid-1", parse_spec(phi35_spec(**overrides)), default_config())


ENGINES = [
    pytest.param({}, id="tgi"),
    pytest.param({"gpu.count": 2, "gpu.type": "a100-80gb", "quantization.method": "none"}, id="tgi-sharded"),
    pytest.param({"engine": "vllm", "quantization.method": "fp8"}, id="vllm"),
    pytest.param({"engine": "vllm", "quantization.method": "none", "gpu.count": 2, "gpu.type": "h100"}, id="vllm-tp"),
]


@pytest.mark.parametrize("overrides", ENGINES)
def test_serving_pods_are_hardened(overrides: dict[str, Any]) -> None:
    pod = build_deployment(ctx_for(**overrides))["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "serviceAccountName" not in pod and "hostNetwork" not in pod and "hostIPC" not in pod
    assert all(set(v) - {"name"} <= {"emptyDir", "persistentVolumeClaim"} for v in pod["volumes"]), "no host paths"
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overrides", ENGINES)
def test_hardened_serving_deployments_validate(version: str, overrides: dict[str, Any]) -> None:
    kubernetes_validate.validate(build_deployment(ctx_for(**overrides)), version, strict=True)


def test_validation_job_keeps_its_stricter_hardening() -> None:
    job = build_validation_job(ctx_for(), "abc123", baseline_accuracy=0.7, price_per_hour=1.0)
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    sc = pod["containers"][0]["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}


# ---------------------------------------------------------------- the operator image


def test_dockerfile_pins_every_base_image_by_digest() -> None:
    text = (ROOT / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.M))
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.M | re.I)
    assert stages
    named = {alias for _, alias in stages if alias}
    for image, _ in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        if image in named:
            continue
        assert re.search(r"@sha256:[0-9a-f]{64}$", image), f"FROM {image} is a tag, not a digest"
