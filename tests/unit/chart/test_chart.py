"""The Helm chart: lint, render under a matrix of values, validate every object, and hold its RBAC to the code.

helm comes from scripts/install-tools.sh; without it these tests fail (a chart that was never
rendered is not a tested chart).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from quantop.api import OperatorConfig, default_config
from quantop.api.config import GpuProfile, ModelCache, PrometheusConfig, ValidationDefaults
from quantop.controller.kube import RESOURCES

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "quantop"
TOOLS = ROOT / ".tools" / "bin"
PROM_MODELS = ROOT / ".tools" / "prometheus-operator-models" / "node_modules"
PROM_VALIDATOR = ROOT / "tests" / "unit" / "resources" / "validate_prometheus_operator.mjs"
NAMESPACE = "quantop-system"
RELEASE = "qo"
KUBE_VERSIONS = ["1.29", "1.30", "1.31", "1.32", "1.33"]
# Kinds kubernetes_validate has no schema for; each is checked by structure (and the npm schemas) below.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ClusterKopfPeering", "KopfPeering"}

CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"rbac": {"scope": "namespaced", "watchNamespaces": ["team-a", "team-b"]}},
    "monitoring-off": {
        "metrics": {
            "serviceMonitor": {"enabled": False},
            "prometheusRule": {"enabled": False},
            "dashboards": {"enabled": False},
        }
    },
    "ha": {
        "replicaCount": 3,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "quantop"}},
            }
        ],
        "podDisruptionBudget": {"minAvailable": 2},
    },
    "ha-namespaced": {"replicaCount": 2, "rbac": {"scope": "namespaced", "watchNamespaces": ["llm"]}},
    "custom": {
        "image": {"repository": "registry.example.com/quantop", "tag": "0.1.0-rc1", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}],
        "operator": {"metricsPort": 9090, "healthPort": 9091, "resyncSeconds": 15, "verbose": True},
        "config": {
            "gpuProfiles": {
                "v100": None,
                "t4": None,
                "gke-l4": {
                    "gpu": "l4",
                    "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present"}],
                    "memoryGiB": 24,
                    "pricePerHour": 0.71,
                    "resourceName": "nvidia.com/gpu",
                },
            },
            "modelCache": {"type": "pvc", "claimName": "hf-cache"},
            "shmSize": "8Gi",
            "validation": {"image": "registry.example.com/quantop-validate:1", "serviceAccountName": "validator"},
            "hubUrl": "https://hf-mirror.internal.example.com",
            "prometheus": {"url": "http://prometheus-operated.monitoring.svc:9090", "timeout": "20s"},
            "allowedImages": ["registry.example.com/mirror/*", "ghcr.io/huggingface/text-generation-inference"],
            # null drops the default "*" entry (Helm merges maps); a namespace gets its own names.
            "allowedSecrets": {"*": None, "team-a": ["team-a-hf", "hf-*"]},
        },
        "serviceAccount": {"name": "quantop-operator", "annotations": {"iam.gke.io/gcp-service-account": "q@p.iam"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "system", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}
                    ]
                }
            }
        },
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"example.com/team": "ml"},
        "podLabels": {"team": "ml"},
        "metrics": {
            "serviceMonitor": {"labels": {"release": "kube-prometheus-stack"}, "interval": "15s"},
            "prometheusRule": {"labels": {"release": "kube-prometheus-stack"}},
        },
    },
}


# ---------------------------------------------------------------- helm


def _helm() -> str:
    helm = shutil.which("helm", path=os.pathsep.join([str(TOOLS), os.environ.get("PATH", "")]))
    if helm is None:
        pytest.fail(f"helm not found in {TOOLS} or PATH: run scripts/install-tools.sh (make tools)", pytrace=False)
    return helm


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Helm's cache and config stay out of the user's home and out of other test runs.
    home = tmp_path_factory.mktemp("helm-home")
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def helm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_helm(), *args], capture_output=True, text=True, env=env, check=False, timeout=120)


def values_file(tmp: Path, values: dict[str, Any]) -> Path:
    path = tmp / f"values-{hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def template(
    env: dict[str, str], tmp: Path, values: dict[str, Any], *extra: str, chart: Path = CHART
) -> subprocess.CompletedProcess[str]:
    return helm(
        env,
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--include-crds",
        "-f",
        str(values_file(tmp, values)),
        *extra,
    )


def render(
    env: dict[str, str], tmp: Path, values: dict[str, Any], *extra: str, chart: Path = CHART
) -> list[dict[str, Any]]:
    result = template(env, tmp, values, *extra, chart=chart)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="session")
def rendered(helm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("values")
    return {name: render(helm_env, tmp, values) for name, values in CASES.items()}


def merged(case: str) -> dict[str, Any]:
    """The case's values over the chart's defaults, with Helm's rule that null deletes a key."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            out = dict(base)
            for k, v in over.items():
                if v is None:
                    out.pop(k, None)
                else:
                    out[k] = merge(base.get(k), v)
            return out
        return copy.deepcopy(over)

    return merge(yaml.safe_load((CHART / "values.yaml").read_text()), CASES[case])


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and "helm.sh/hook" not in d["metadata"].get("annotations", {})]
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def of_kind(docs: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in kinds]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def operator_config(docs: list[dict[str, Any]]) -> str:
    cm = [d for d in of_kind(docs, "ConfigMap") if "config.yaml" in d.get("data", {})]
    assert len(cm) == 1
    return str(cm[0]["data"]["config.yaml"])


# ---------------------------------------------------------------- lint and schema


@pytest.mark.parametrize("case", list(CASES))
def test_lint_strict(helm_env: dict[str, str], tmp_path: Path, case: str) -> None:
    result = helm(helm_env, "lint", "--strict", str(CHART), "-f", str(values_file(tmp_path, CASES[case])))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"replicaCount": -1}, "replicaCount: Must be greater than or equal to 1", id="negative-replicas"),
        pytest.param(
            {"rbac": {"scope": "bogus"}},
            'rbac.scope must be one of the following: "cluster", "namespaced"',
            id="bogus-scope",
        ),
        pytest.param({"replicas": 2}, "Additional property replicas is not allowed", id="unknown-key"),
        pytest.param(
            {"metrics": {"serviceMonitor": {"enable": True}}},
            "Additional property enable is not allowed",
            id="nested-typo",
        ),
        pytest.param(
            {"rbac": {"scope": "namespaced"}},
            "rbac.watchNamespaces: Array must have at least 1 items",
            id="namespaced-without-namespaces",
        ),
        pytest.param(
            {"rbac": {"scope": "namespaced", "watchNamespaces": ["Team_A"]}},
            "rbac.watchNamespaces.0: Does not match pattern",
            id="bad-namespace-name",
        ),
        pytest.param(
            {"config": {"modelCache": {"type": "pvc"}}},
            "config.modelCache.claimName: String length must be greater than or equal to 1",
            id="pvc-without-claim",
        ),
        pytest.param(
            {"config": {"modelCache": {"type": "hostPath"}}},
            "config.modelCache.type must be one of the following",
            id="bad-cache-type",
        ),
        pytest.param(
            {"config": {"gpuProfiles": {"a10": {"gpuType": "a10"}}}},
            "Additional property gpuType is not allowed",
            id="gpu-profile-typo",
        ),
        pytest.param(
            {"config": {"gpuProfiles": {"x": {"nodeSelector": {}}}}},
            "config.gpuProfiles.x",
            id="gpu-profile-without-gpu",
        ),
        pytest.param(
            {"config": {"gpuProfiles": {"a10": {"pricePerHour": -1}}}},
            "config.gpuProfiles.a10",
            id="negative-price",
        ),
        pytest.param(
            # The operator's config model knows no tolerationSeconds: the chart must not let it through.
            {"config": {"gpuProfiles": {"a10": {"tolerations": [{"key": "k", "tolerationSeconds": 5}]}}}},
            "config.gpuProfiles.a10",
            id="profile-toleration-seconds",
        ),
        pytest.param({"config": {"shmSize": "lots"}}, "config.shmSize: Does not match pattern", id="bad-quantity"),
        pytest.param({"config": {"hubUrl": "huggingface.co"}}, "config.hubUrl: Does not match pattern", id="bad-url"),
        pytest.param(
            {"config": {"prometheus": {"url": "prometheus:9090"}}}, "config.prometheus.url", id="prometheus-url-scheme"
        ),
        pytest.param(
            {"config": {"prometheus": {"timeout": "ten seconds"}}},
            "config.prometheus.timeout: Does not match pattern",
            id="prometheus-timeout",
        ),
        pytest.param(
            {"config": {"prometheus": {"address": "http://p:9090"}}},
            "Additional property address is not allowed",
            id="prometheus-typo",
        ),
        pytest.param(
            {"config": {"allowedImages": ["https://ghcr.io/org/x"]}},
            "config.allowedImages.0: Does not match pattern",
            id="allowed-image-url",
        ),
        pytest.param(
            {"config": {"allowedImages": ["ghcr.io/org/x:1.0"]}},
            "config.allowedImages.0: Does not match pattern",
            id="allowed-image-with-tag",
        ),
        pytest.param(
            {"config": {"allowedSecrets": {"Team A": ["hf-token"]}}},
            'Property name of "Team A" does not match',
            id="allowed-secrets-bad-namespace",
        ),
        pytest.param(
            {"config": {"allowedSecrets": {"*": ["HF_TOKEN"]}}},
            "config.allowedSecrets.*.0: Does not match pattern",
            id="allowed-secret-bad-name",
        ),
        pytest.param(
            {"operator": {"healthPort": 70000}},
            "operator.healthPort: Must be less than or equal to 65535",
            id="port-range",
        ),
        pytest.param(
            {"image": {"pullPolicy": "Sometimes"}}, "image.pullPolicy must be one of the following", id="pull-policy"
        ),
        pytest.param(
            {"metrics": {"serviceMonitor": {"interval": "30 seconds"}}},
            "metrics.serviceMonitor.interval: Does not match pattern",
            id="bad-interval",
        ),
        pytest.param({"resources": {"limits": {"memory": "lots"}}}, "resources.limits.memory", id="bad-resources"),
        pytest.param(
            {"operator": {"metricsPort": 8081}},
            "operator.metricsPort and operator.healthPort must differ",
            id="same-port",
        ),
        pytest.param(
            {"replicaCount": 2, "podDisruptionBudget": {"minAvailable": 2}},
            "podDisruptionBudget.minAvailable must be lower than replicaCount",
            id="pdb-blocks-drains",
        ),
        pytest.param(
            {"serviceAccount": {"create": False}},
            "serviceAccount.name is required when serviceAccount.create is false",
            id="no-service-account",
        ),
    ],
)
def test_bad_values_are_rejected_with_a_clear_message(
    helm_env: dict[str, str], tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    result = template(helm_env, tmp_path, values)
    assert result.returncode != 0, f"accepted: {values}"
    assert message in result.stderr, result.stderr


def test_bad_values_fail_lint_too(helm_env: dict[str, str], tmp_path: Path) -> None:
    result = helm(helm_env, "lint", "--strict", str(CHART), "-f", str(values_file(tmp_path, {"rbac": {"scope": "x"}})))
    assert result.returncode != 0
    assert "rbac.scope must be one of the following" in result.stdout + result.stderr


def test_kube_version_floor(helm_env: dict[str, str], tmp_path: Path) -> None:
    assert template(helm_env, tmp_path, {}, "--kube-version", "1.29.0").returncode == 0
    old = template(helm_env, tmp_path, {}, "--kube-version", "1.28.9")
    assert old.returncode != 0 and "kubeVersion" in old.stderr


# Kubernetes objects passed through to the pod: the schema names their fields, values.yaml leaves them empty.
PASSTHROUGH = {"affinity"}


def _schema_paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, sub in (node.get("properties") or {}).items():
        path = f"{prefix}{key}"
        paths.add(path)
        # Free-form maps (labels, profiles, resource lists) hold data, not chart settings.
        if sub.get("additionalProperties") is False and path not in PASSTHROUGH:
            paths |= _schema_paths(sub, path + ".")
    return paths


def _value_paths(node: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in node.items():
        path = f"{prefix}{key}"
        paths.add(path)
        sub = (schema.get("properties") or {}).get(key, {})
        if isinstance(value, dict) and sub.get("additionalProperties") is False:
            paths |= _value_paths(value, sub, path + ".")
    return paths


def test_schema_and_values_list_the_same_settings() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert _schema_paths(schema) - {"global"} == _value_paths(values, schema)


def _alias_names(model: type[Any]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def test_schema_follows_the_operator_config_model() -> None:
    """A field added to api/config.py must reach the chart, and the chart may not invent one."""
    config = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]
    assert set(config["properties"]) == _alias_names(OperatorConfig)
    profile = config["properties"]["gpuProfiles"]["additionalProperties"]["anyOf"][1]
    assert set(profile["properties"]) == _alias_names(GpuProfile)
    assert set(config["properties"]["modelCache"]["properties"]) == _alias_names(ModelCache)
    assert set(config["properties"]["validation"]["properties"]) == _alias_names(ValidationDefaults)
    assert set(config["properties"]["prometheus"]["properties"]) == _alias_names(PrometheusConfig)


def test_every_value_is_commented() -> None:
    """Every setting in values.yaml has a comment right above it (data inside maps excepted)."""
    data_maps = ("config.gpuProfiles.", "resources.requests.", "resources.limits.", "metrics.dashboards.labels.")
    stack: list[tuple[int, str]] = []
    previous = ""
    missing = []
    for line in (CHART / "values.yaml").read_text().splitlines():
        match = re.match(r"^( *)([A-Za-z0-9_.-]+):", line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = ".".join([k for _, k in stack] + [match.group(2)])
            stack.append((indent, match.group(2)))
            if not path.startswith(data_maps) and not previous.lstrip().startswith("#"):
                missing.append(path)
        if line.strip():
            previous = line
    assert not missing, f"values without a comment: {missing}"


# ---------------------------------------------------------------- rendered objects


def test_chart_crd_is_the_generated_crd() -> None:
    chart_crd = (CHART / "crds" / "quantizedmodels.quantop.dev.yaml").read_bytes()
    assert chart_crd == (ROOT / "crds" / "quantizedmodels.quantop.dev.yaml").read_bytes(), (
        "charts/quantop/crds/ drifted from crds/: copy crds/quantizedmodels.quantop.dev.yaml into the chart"
    )


@pytest.mark.parametrize("case", list(CASES))
def test_every_object_is_valid_for_each_supported_kubernetes(
    rendered: dict[str, list[dict[str, Any]]], case: str
) -> None:
    errors = []
    for doc in rendered[case]:
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                assert doc["kind"] in CUSTOM_KINDS, f"no schema for {doc['kind']} in Kubernetes {version}"
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{doc['kind']}/{doc['metadata']['name']} on {version}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("case", list(CASES))
def test_pods_are_hardened(rendered: dict[str, list[dict[str, Any]]], case: str) -> None:
    pods = [only(rendered[case], "Deployment")["spec"]["template"]["spec"]]
    pods += [d["spec"] for d in of_kind(rendered[case], "Pod")]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 65532
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert c.get("resources", {}).get("limits", {}).get("memory"), "a memory limit on every container"


@pytest.mark.parametrize("case", list(CASES))
def test_command_line_follows_scope_and_replicas(rendered: dict[str, list[dict[str, Any]]], case: str) -> None:
    values = merged(case)
    args = container(rendered[case])["args"]
    op = values["operator"]
    assert args[:7] == [
        "run",
        "--config",
        "/etc/quantop/config.yaml",
        "--metrics-port",
        str(op["metricsPort"]),
        "--health-port",
        str(op["healthPort"]),
    ]
    namespaces = [args[i + 1] for i, a in enumerate(args) if a == "-n"]
    if values["rbac"]["scope"] == "cluster":
        assert "-A" in args and not namespaces
    else:
        assert "-A" not in args and namespaces == values["rbac"]["watchNamespaces"]
    if values["replicaCount"] > 1:
        assert args[args.index("--peering") + 1] == "quantop" and "--standalone" not in args
    else:
        assert "--standalone" in args and "--peering" not in args
    assert ("--verbose" in args) == op["verbose"]
    # The flags must parse with the real `quantop run` parser (no drift between chart and CLI).
    import argparse

    from quantop.controller import commands

    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    parsed = parser.parse_args(args)
    assert parsed.metrics_port == op["metricsPort"] and parsed.health_port == op["healthPort"]


@pytest.mark.parametrize("case", list(CASES))
def test_probes_ports_and_config_mount(rendered: dict[str, list[dict[str, Any]]], case: str) -> None:
    values = merged(case)
    docs = rendered[case]
    c = container(docs)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": values["operator"]["metricsPort"], "health": values["operator"]["healthPort"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    cm_name = volumes[mounts["/etc/quantop"]]["configMap"]["name"]
    assert cm_name in {d["metadata"]["name"] for d in of_kind(docs, "ConfigMap")}
    assert "/tmp" in mounts, "a writable /tmp under a read-only root filesystem"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["MPLCONFIGDIR"] == "/tmp" and env["QUANTOP_RESYNC_SECONDS"] == str(values["operator"]["resyncSeconds"])
    assert c["resources"] == values["resources"]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints"):
        assert pod.get(key, type(values[key])()) == values[key]
    svc = next(d for d in of_kind(docs, "Service") if d["metadata"]["name"].endswith("-metrics"))
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == ports


@pytest.mark.parametrize("case", list(CASES))
def test_config_map_is_an_operator_config(rendered: dict[str, list[dict[str, Any]]], case: str) -> None:
    text = operator_config(rendered[case])
    config = OperatorConfig.model_validate(yaml.safe_load(text))
    values = merged(case)
    assert set(config.gpu_profiles) == set(values["config"]["gpuProfiles"])
    image = values["image"]
    operator_image = f"{image['repository']}:{image['tag'] or '0.1.0'}"
    assert config.validation.image == (values["config"]["validation"]["image"] or operator_image)
    # The operator reads its config once: a changed config must roll the pods.
    annotations = only(rendered[case], "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"] == hashlib.sha256(text.rstrip("\n").encode()).hexdigest()


def test_default_config_is_the_packaged_default(rendered: dict[str, list[dict[str, Any]]]) -> None:
    chart = OperatorConfig.model_validate(yaml.safe_load(operator_config(rendered["defaults"])))
    assert chart == default_config()


def test_custom_gpu_profiles_reach_the_config(rendered: dict[str, list[dict[str, Any]]]) -> None:
    config = OperatorConfig.model_validate(yaml.safe_load(operator_config(rendered["custom"])))
    assert "v100" not in config.gpu_profiles and "t4" not in config.gpu_profiles
    l4 = config.gpu_profiles["gke-l4"]
    assert (l4.gpu, l4.memory_gi_b, l4.price_per_hour) == ("l4", 24, 0.71)
    assert l4.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert config.model_cache.type == "pvc" and config.model_cache.claim_name == "hf-cache"
    assert config.validation.service_account_name == "validator"
    assert config.hub_url == "https://hf-mirror.internal.example.com"
    c = container(rendered["custom"])
    assert c["image"] == "registry.example.com/quantop:0.1.0-rc1" and c["imagePullPolicy"] == "Always"


def test_allowed_images_and_secrets_reach_the_config(rendered: dict[str, list[dict[str, Any]]]) -> None:
    defaults = OperatorConfig.model_validate(yaml.safe_load(operator_config(rendered["defaults"])))
    assert defaults.allowed_images == default_config().allowed_images
    assert defaults.allowed_secrets == {"*": ["hf-token*"]}
    custom = OperatorConfig.model_validate(yaml.safe_load(operator_config(rendered["custom"])))
    assert custom.allowed_images == ["registry.example.com/mirror/*", "ghcr.io/huggingface/text-generation-inference"]
    assert custom.allowed_secrets == {"team-a": ["team-a-hf", "hf-*"]}
    assert custom.secret_patterns("team-b") == [] and custom.secret_patterns("team-a") == ["team-a-hf", "hf-*"]


def test_prometheus_url_reaches_the_config_only_when_set(rendered: dict[str, list[dict[str, Any]]]) -> None:
    custom = OperatorConfig.model_validate(yaml.safe_load(operator_config(rendered["custom"])))
    assert custom.prometheus.url == "http://prometheus-operated.monitoring.svc:9090"
    assert custom.prometheus.timeout == "20s"
    # Empty in values means unset: the operator then refuses guards instead of querying "".
    assert "url" not in yaml.safe_load(operator_config(rendered["defaults"]))["prometheus"]


def test_checksum_changes_with_the_config(helm_env: dict[str, str], tmp_path: Path) -> None:
    def checksum(values: dict[str, Any]) -> str:
        dep = only(render(helm_env, tmp_path, values), "Deployment")
        return str(dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) != checksum({"config": {"shmSize": "2Gi"}})
    assert checksum({}) == checksum({"replicaCount": 2})


@pytest.mark.parametrize("case", list(CASES))
def test_replicas_pdb_and_peering(rendered: dict[str, list[dict[str, Any]]], case: str) -> None:
    values = merged(case)
    docs = rendered[case]
    replicas = values["replicaCount"]
    assert only(docs, "Deployment")["spec"]["replicas"] == replicas
    strategy = only(docs, "Deployment")["spec"].get("strategy", {}).get("type", "RollingUpdate")
    assert strategy == ("Recreate" if replicas == 1 else "RollingUpdate"), "never two standalone operators at once"
    pdbs = of_kind(docs, "PodDisruptionBudget")
    peerings = of_kind(docs, "ClusterKopfPeering", "KopfPeering")
    if replicas == 1:
        assert not pdbs and not peerings
        return
    assert len(pdbs) == 1 and pdbs[0]["spec"]["minAvailable"] == values["podDisruptionBudget"]["minAvailable"]
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdbs[0]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert {p["metadata"]["name"] for p in peerings} == {"quantop"}
    if values["rbac"]["scope"] == "cluster":
        assert [p["kind"] for p in peerings] == ["ClusterKopfPeering"]
    else:
        assert sorted(p["metadata"]["namespace"] for p in peerings) == sorted(values["rbac"]["watchNamespaces"])
    crds = {d["metadata"]["name"] for d in of_kind(docs, "CustomResourceDefinition")}
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= crds


@pytest.mark.parametrize("case", list(CASES))
def test_service_monitor(rendered: dict[str, list[dict[str, Any]]], case: str) -> None:
    values = merged(case)["metrics"]["serviceMonitor"]
    docs = rendered[case]
    monitors = of_kind(docs, "ServiceMonitor")
    if not values["enabled"]:
        assert not monitors
        return
    (sm,) = monitors
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert values["labels"].items() <= sm["metadata"]["labels"].items()
    selected = [
        s
        for s in of_kind(docs, "Service")
        if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert len(selected) == 1, "the ServiceMonitor selects exactly the metrics Service"
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    port_names = {p["name"] for p in selected[0]["spec"]["ports"]}
    for endpoint in sm["spec"]["endpoints"]:
        assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"
        assert endpoint["interval"] == values["interval"]
        # The rules join quantop_* on the model's namespace label, which must survive the scrape.
        assert endpoint["honorLabels"] is True


def _validate_prometheus_objects(objects: list[dict[str, Any]]) -> None:
    node = shutil.which("node")
    assert node and PROM_MODELS.is_dir(), (
        "node and the Prometheus Operator npm schemas come from scripts/install-tools.sh"
    )
    result = subprocess.run(
        [node, str(PROM_VALIDATOR), str(PROM_MODELS)],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_operator_objects_match_the_published_schemas(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = [d for docs in rendered.values() for d in of_kind(docs, "ServiceMonitor", "PrometheusRule")]
    assert objects
    _validate_prometheus_objects(objects)


RULES = """\
groups:
  - name: quantop.test
    rules:
      - alert: QuantopTestAlert
        expr: up{job="quantop"} == 0
        for: 5m
        labels: {severity: warning}
        annotations: {summary: "quantop is down"}
"""


def test_rules_and_dashboards_render_from_the_chart_files(
    helm_env: dict[str, str], tmp_path: Path, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    """The chart's own files when present; without them the chart still renders and creates neither object."""
    files = CHART / "files"
    for case, docs in rendered.items():
        on = merged(case)["metrics"]
        assert bool(of_kind(docs, "PrometheusRule")) == (
            on["prometheusRule"]["enabled"] and (files / "rules.yaml").is_file()
        )
        has_dashboards = any(d["metadata"]["name"].endswith("-dashboards") for d in of_kind(docs, "ConfigMap"))
        assert has_dashboards == (on["dashboards"]["enabled"] and any(files.glob("dashboards/*.json")))

    # A copy of the chart with known files shows how they are rendered.
    chart = tmp_path / "quantop"
    shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("files"))
    (chart / "files" / "dashboards").mkdir(parents=True)
    (chart / "files" / "rules.yaml").write_text(RULES)
    dashboard = {"title": "quantop", "panels": [], "schemaVersion": 39}
    (chart / "files" / "dashboards" / "quantop-overview.json").write_text(json.dumps(dashboard))
    docs = render(helm_env, tmp_path, CASES["custom"], chart=chart)
    rule = only(docs, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    cm = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboards"))
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["quantop-overview.json"]) == dashboard
    for doc in of_kind(docs, "ConfigMap"):
        kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)
    _validate_prometheus_objects([rule])

    (chart / "files" / "rules.yaml").write_text("alerts: []\n")
    broken = template(helm_env, tmp_path, {}, chart=chart)
    assert broken.returncode != 0 and "files/rules.yaml must hold a top-level `groups:` list" in broken.stderr


def _notes(env: dict[str, str], tmp: Path, values: dict[str, Any]) -> str:
    """NOTES.txt as `helm install` prints it (helm template skips NOTES; a copy renders it into a ConfigMap)."""
    chart = tmp / "notes-chart"
    shutil.copytree(CHART, chart)
    (chart / "files").mkdir(exist_ok=True)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "files" / "NOTES.txt")
    (chart / "templates" / "notes-probe.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ tpl (.Files.Get "files/NOTES.txt") . | quote }}\n'
    )
    docs = render(env, tmp, values, "--show-only", "templates/notes-probe.yaml", chart=chart)
    return str(docs[0]["data"]["notes"])


def test_notes_show_how_to_apply_the_example_and_watch_it(helm_env: dict[str, str], tmp_path: Path) -> None:
    notes = _notes(helm_env, tmp_path, {})
    assert "kubectl apply -f examples/quantizedmodel.yaml" in notes and "kubectl get qm -n llm -w" in notes
    assert (ROOT / "examples" / "quantizedmodel.yaml").is_file()
    example = yaml.safe_load((ROOT / "examples" / "quantizedmodel.yaml").read_text())
    assert f"kubectl describe qm {example['metadata']['name']} -n {example['metadata']['namespace']}" in notes
    assert "every namespace" in notes and "peering" not in notes
    namespaced = _notes(helm_env, tmp_path / "ns", {**CASES["namespaced"], "replicaCount": 2})
    assert "team-a, team-b" in namespaced and "add `llm` to rbac.watchNamespaces" in namespaced
    assert "peering" in namespaced


# ---------------------------------------------------------------- helm test


def _test_pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pods = [d for d in of_kind(docs, "Pod") if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    assert len(pods) == 1
    return pods[0]


def test_helm_test_checks_health_through_the_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for case, docs in rendered.items():
        pod = _test_pod(docs)
        (c,) = pod["spec"]["containers"]
        assert c["image"] == container(docs)["image"], "no extra image for helm test"
        assert c["command"][:2] == ["python", "-c"]
        svc = next(d for d in of_kind(docs, "Service") if d["metadata"]["name"].endswith("-metrics"))
        port = merged(case)["operator"]["healthPort"]
        assert c["command"][3] == f"http://{svc['metadata']['name']}.{NAMESPACE}.svc:{port}/healthz"
        assert not (svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()), (
            "test pod outside the Service"
        )


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Handler", (_Health,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", handler
    finally:
        server.shutdown()
        server.server_close()


def test_helm_test_script_passes_on_200_and_fails_otherwise(
    rendered: dict[str, list[dict[str, Any]]], health_server: tuple[str, type[_Health]]
) -> None:
    url, handler = health_server
    script = _test_pod(rendered["defaults"])["spec"]["containers"][0]["command"][2]

    def run() -> int:
        return subprocess.run(
            [sys.executable, "-c", script, url], capture_output=True, check=False, timeout=30
        ).returncode

    assert run() == 0
    handler.status = 500
    assert run() != 0


# ---------------------------------------------------------------- RBAC

Rules = dict[tuple[str, str], set[str]]

KUBE_VERBS = {"get", "list", "create", "patch", "delete"}


def _functions(package: str) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        fn.name: fn
        for path in sorted((ROOT / "operator" / "quantop" / package).glob("*.py"))
        for fn in ast.parse(path.read_text()).body
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _builder_kinds() -> dict[str, str]:
    """Builder function name -> the kind of the object it returns (resources/*.py), through helpers."""
    functions = _functions("resources")
    kinds: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name, fn in functions.items():
            found = {
                v.value
                for d in ast.walk(fn)
                if isinstance(d, ast.Dict)
                for k, v in zip(d.keys, d.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "kind" and isinstance(v, ast.Constant)
            }
            found |= {
                kinds[c.func.id]
                for c in ast.walk(fn)
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in kinds
            }
            if len(found) == 1 and name not in kinds:
                kinds[name] = str(found.pop())
                changed = True
    return kinds


def _client_verbs(fn: ast.AST) -> set[str]:
    return {
        c.func.attr
        for c in ast.walk(fn)
        if isinstance(c, ast.Call)
        and isinstance(c.func, ast.Attribute)
        and c.func.attr in KUBE_VERBS
        and isinstance(c.func.value, ast.Name)
        and c.func.value.id == "client"
    }


def operator_calls() -> set[tuple[str, str]]:
    """(verb, Kind[/subresource]) of every KubeClient call in the controller, read from its source.

    Calls go through ``client.<verb>(kind, ...)``, ``client.create(build_x(...))`` or
    ``apply(client, build_x(...))`` (whose verbs are read from apply.py). A call whose kind this
    cannot tell fails the test, so a new call style gets taught here rather than silently missed.
    """
    builders = _builder_kinds()
    apply_verbs = _client_verbs(_functions("controller")["apply"])
    assert apply_verbs, "apply() makes no KubeClient call?"
    calls: set[tuple[str, str]] = set()
    unresolved = []
    for path in sorted((ROOT / "operator" / "quantop" / "controller").glob("*.py")):
        if path.name in ("kube.py", "apply.py"):  # the client itself, and apply's generic desired["kind"]
            continue
        tree = ast.parse(path.read_text())
        loops = {
            node.target.id: {e.value for e in node.iter.elts if isinstance(e, ast.Constant)}
            for node in ast.walk(tree)
            if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Tuple)
        }

        def kinds_of(expr: ast.expr, loops: dict[str, set[Any]] = loops) -> set[str]:
            if isinstance(expr, ast.Constant) and expr.value in RESOURCES:
                return {str(expr.value)}
            if isinstance(expr, ast.Name) and expr.id in loops:
                return {str(k) for k in loops[expr.id]}
            if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in builders:
                return {builders[expr.func.id]}
            return set()

        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            where = f"{path.name}:{node.lineno}"
            if isinstance(func, ast.Attribute) and func.attr in KUBE_VERBS:
                on_client = isinstance(func.value, ast.Name) and func.value.id == "client"
                kinds = kinds_of(node.args[0])
                if not kinds:
                    if on_client:
                        unresolved.append(where)
                    continue
                sub = next(
                    (
                        k.value.value
                        for k in node.keywords
                        if k.arg == "subresource" and isinstance(k.value, ast.Constant)
                    ),
                    None,
                )
                calls |= {(func.attr, kind + (f"/{sub}" if sub else "")) for kind in kinds}
            elif isinstance(func, ast.Name) and func.id == "apply":
                kinds = kinds_of(node.args[-1])
                if not kinds:
                    unresolved.append(where)
                calls |= {(verb, kind) for kind in kinds for verb in apply_verbs}
    assert not unresolved, f"KubeClient calls whose kind the RBAC derivation cannot tell: {unresolved}"
    # The resync's watch-fed stores list and watch each kind they cache (controller/cache.py).
    from quantop.controller.cache import CACHED_KINDS

    return calls | {(verb, kind) for kind in CACHED_KINDS for verb in ("list", "watch")}


def _as_rules(calls: set[tuple[str, str]]) -> Rules:
    rules: Rules = {}
    for verb, kind in calls:
        base, _, sub = kind.partition("/")
        res = RESOURCES[base]
        rules.setdefault((res.group, res.plural + (f"/{sub}" if sub else "")), set()).add(verb)
    return rules


def _kopf_needs(*, clusterwide: bool, peering: bool) -> Rules:
    """What kopf itself calls (docs/deployment-rbac.yaml and kopf/_core/reactor/observation.py)."""
    import kopf

    import quantop.controller.handlers  # noqa: F401 - registers the handlers

    registry = kopf.get_default_registry()
    known = {r.plural for r in RESOURCES.values()}
    rules: Rules = {}
    # Watched resources are listed and watched; resources with change handlers or timers also get
    # patched (progress and diff-base annotations, finalizers). Event handlers only watch.
    for handlers, patched in (
        (registry._watching.get_all_handlers(), False),
        (registry._changing.get_all_handlers(), True),
        (registry._spawning.get_all_handlers(), True),
    ):
        for handler in handlers:
            sel = handler.selector
            plural = sel and (sel.plural or sel.any_name)
            assert sel is not None and plural in known, f"handler {handler.id}: selector {sel} is not a known plural"
            group = sel.group or ""
            rules.setdefault((group, plural), set()).update({"list", "watch"} | ({"patch"} if patched else set()))
    rules[("", "events")] = {"create"}  # kopf.event() and kopf's own handler reports
    if clusterwide:
        # Runtime observation of CRDs; namespaces are only listed by a namespaced operator, which
        # falls back to the exact names it was given when it may not (as the chart's Roles intend).
        rules[("apiextensions.k8s.io", "customresourcedefinitions")] = {"list", "watch"}
    if peering:
        plural = "clusterkopfpeerings" if clusterwide else "kopfpeerings"
        rules[("kopf.dev", plural)] = {"get", "list", "patch", "watch"}
    return rules


def required_rules(*, clusterwide: bool, peering: bool) -> Rules:
    rules = _as_rules(operator_calls())
    for key, verbs in _kopf_needs(clusterwide=clusterwide, peering=peering).items():
        rules.setdefault(key, set()).update(verbs)
    return rules


def chart_rules(role: dict[str, Any]) -> Rules:
    rules: Rules = {}
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


@pytest.mark.parametrize("case", list(CASES))
def test_rbac_is_exactly_what_the_code_calls(rendered: dict[str, list[dict[str, Any]]], case: str) -> None:
    values = merged(case)
    docs = rendered[case]
    clusterwide = values["rbac"]["scope"] == "cluster"
    expected = required_rules(clusterwide=clusterwide, peering=values["replicaCount"] > 1)
    sa = only(docs, "ServiceAccount")["metadata"]["name"]
    assert sa == (values["serviceAccount"]["name"] or f"{RELEASE}-quantop")
    if clusterwide:
        roles, bindings = of_kind(docs, "ClusterRole"), of_kind(docs, "ClusterRoleBinding")
        assert not of_kind(docs, "Role", "RoleBinding")
        assert len(roles) == 1 and len(bindings) == 1
    else:
        assert not of_kind(docs, "ClusterRole", "ClusterRoleBinding"), "no cluster-wide grant in namespaced mode"
        roles, bindings = of_kind(docs, "Role"), of_kind(docs, "RoleBinding")
        namespaces = sorted(values["rbac"]["watchNamespaces"])
        assert sorted(r["metadata"]["namespace"] for r in roles) == namespaces
        assert sorted(b["metadata"]["namespace"] for b in bindings) == namespaces
    for role in roles:
        got = chart_rules(role)
        missing = {k: v - got.get(k, set()) for k, v in expected.items() if v - got.get(k, set())}
        extra = {k: v - expected.get(k, set()) for k, v in got.items() if v - expected.get(k, set())}
        assert not missing and not extra, f"{role['kind']} differs from the code: missing {missing}, extra {extra}"
    for binding in bindings:
        assert binding["roleRef"]["name"] in {r["metadata"]["name"] for r in roles}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    assert only(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == sa


def test_no_rule_grants_secrets_or_wildcards(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for docs in rendered.values():
        for role in of_kind(docs, "ClusterRole", "Role"):
            for rule in role["rules"]:
                words = [*rule["apiGroups"], *rule["resources"], *rule["verbs"]]
                assert "*" not in words and not any("secret" in w for w in words), rule
                assert "resourceNames" not in rule and "nonResourceURLs" not in rule


def test_rbac_can_be_left_to_the_cluster_admin(helm_env: dict[str, str], tmp_path: Path) -> None:
    docs = render(helm_env, tmp_path, {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops"}})
    assert not of_kind(docs, "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount")
    assert only(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


def test_static_derivation_sees_every_kube_resource_in_use() -> None:
    """Every kind in kube.RESOURCES is either called or listed here as unused, so nothing unused gets a grant."""
    used = {kind.partition("/")[0] for _, kind in operator_calls()}
    unused: set[str] = set()  # every kind in RESOURCES is called somewhere
    assert used | unused == set(RESOURCES) and not used & unused


async def _lifecycle_calls() -> set[tuple[str, str, str]]:
    """Run the operator through promote, re-quantize, rollback, drift and abandon; return its KubeClient calls."""
    from tests.conftest import qm
    from tests.integration.kubelet import finish_job, make_available, results

    from quantop.api import parse_spec
    from quantop.controller import handlers
    from quantop.controller.kube import KubeClient
    from quantop.resources import revision_of
    from quantop.sandbox.cluster import api_server, operator

    clients: list[KubeClient] = []

    class Recording(KubeClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            clients.append(self)

    handlers.KubeClient = Recording  # type: ignore[misc]  # a process of its own: nothing to restore

    def rev(method: str) -> str:
        return revision_of(parse_spec(qm("m", **{"quantization.method": method})["spec"]))

    qm_path = ("quantop.dev/v1alpha1", "quantizedmodels", "llm", "m")

    async def promote(cluster: Any, method: str) -> None:
        name = f"m-{rev(method)}"
        await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", name), bool)
        await make_available(cluster, "llm", name)
        await cluster.wait_for(lambda: cluster.get("batch/v1", "jobs", "llm", f"{name}-validate"), bool)
        await finish_job(cluster, "llm", f"{name}-validate", results())
        await cluster.wait_for(
            lambda: cluster.qm("llm", "m"), lambda o: o["status"].get("stableRevision") == rev(method)
        )

    async with api_server() as cluster, operator(cluster):
        await cluster.create(qm("m", **{"promotion.scaleDownDelaySeconds": 0}))
        await promote(cluster, "eetq")
        # A serving pod, to be labelled with its role.
        template = (await cluster.get("apps/v1", "deployments", "llm", f"m-{rev('eetq')}"))["spec"]["template"]
        await cluster.http.post(
            "/api/v1/namespaces/llm/pods",
            json={"metadata": {"name": "m-pod", "namespace": "llm", "labels": template["metadata"]["labels"]}},
        )
        await cluster.patch(*qm_path, {"spec": {"quantization": {"method": "fp8"}}})
        await promote(cluster, "fp8")
        await cluster.wait_for(
            lambda: cluster.get("v1", "pods", "llm", "m-pod"),
            lambda p: p["metadata"]["labels"].get("quantop.dev/role") == "previous",
        )
        # kopf leaves quantop.dev/* annotations out of its diff (its own storage prefix), so the
        # rollback annotation alone waits for the next resync; a label change makes it an update now.
        rollback = {"annotations": {"quantop.dev/rollback": "true"}, "labels": {"touched": "1"}}
        await cluster.patch(*qm_path, {"metadata": rollback})
        await cluster.wait_for(
            lambda: cluster.qm("llm", "m"), lambda o: o["status"].get("stableRevision") == rev("eetq")
        )
        # Drift in an owned PodMonitor is patched back.
        (monitor,) = await cluster.list("monitoring.coreos.com/v1", "podmonitors", "llm")
        pm = ("monitoring.coreos.com/v1", "podmonitors", "llm", monitor["metadata"]["name"])
        await cluster.patch(*pm, {"spec": {"podMetricsEndpoints": []}})
        await cluster.patch(*qm_path, {"metadata": {"labels": {"touched": "2"}}})
        await cluster.wait_for(lambda: cluster.get(*pm), lambda o: o["spec"] == monitor["spec"])
        # A candidate abandoned during validation loses its Deployment, Service and Job.
        nf4 = f"m-{rev('bitsandbytes-nf4')}"
        await cluster.patch(*qm_path, {"spec": {"quantization": {"method": "bitsandbytes-nf4"}}})
        await cluster.wait_for(lambda: cluster.get("apps/v1", "deployments", "llm", nf4), bool)
        await make_available(cluster, "llm", nf4)
        await cluster.wait_for(lambda: cluster.get("batch/v1", "jobs", "llm", f"{nf4}-validate"), bool)
        await cluster.patch(*qm_path, {"spec": {"quantization": {"method": "eetq"}}})
        await cluster.wait_for(lambda: cluster.get("batch/v1", "jobs", "llm", f"{nf4}-validate"), lambda d: d is None)
    return set().union(*(c.calls for c in clients))


@pytest.mark.integration
def test_calls_of_a_real_lifecycle_are_exactly_the_derived_calls() -> None:
    """The operator, run for real against the emulated API server, calls what the source analysis says, no more, no less."""
    # A fresh process: Recording replaces the handlers' KubeClient for good.
    code = (
        "import asyncio, json; from tests.unit.chart.test_chart import _lifecycle_calls; "
        "print(json.dumps(sorted(asyncio.run(_lifecycle_calls()))))"
    )
    env = {**os.environ, "QUANTOP_RESYNC_SECONDS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr[-6000:]
    recorded = {tuple(c) for c in json.loads(result.stdout.strip().splitlines()[-1])}
    granted = required_rules(clusterwide=True, peering=False)
    beyond = {c for c in recorded if c[0] not in granted.get((c[1], c[2]), set())}
    assert not beyond, f"calls the chart does not grant: {beyond}"
    derived = {(verb, *key) for key, verbs in _as_rules(operator_calls()).items() for verb in verbs}
    assert recorded == derived, f"source-derived and observed calls differ: {derived ^ recorded}"
