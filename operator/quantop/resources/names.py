"""Names and labels of everything quantop creates, in one place (DESIGN.md section 6)."""

from __future__ import annotations

import hashlib
import json

from quantop.api import QuantizedModelSpec
from quantop.api.spec import Engine

MANAGED_BY = "quantop"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_MODEL = "quantop.dev/model"
LABEL_QUANTIZATION = "quantop.dev/quantization"
LABEL_REVISION = "quantop.dev/revision"
LABEL_ROLE = "quantop.dev/role"
LABEL_GPU = "quantop.dev/gpu"
#: The serving engine, on revisions of engines other than TGI (tgi is the default and carries none).
LABEL_ENGINE = "quantop.dev/engine"
#: The GPU model behind a node-pool profile (`a10` for a profile named `a10-spot`), on pods.
ANNOTATION_GPU_MODEL = "quantop.dev/gpu-model"

ANNOTATION_PROMOTE = "quantop.dev/promote"
ANNOTATION_ROLLBACK = "quantop.dev/rollback"
ANNOTATION_SPEC_HASH = "quantop.dev/spec-hash"

TGI_PORT = 8080
TGI_PORT_NAME = "http"

#: Kubernetes object names are DNS labels (63 chars) for Services; leave room for "-<rev>".
REVISION_LENGTH = 6
MAX_MODEL_NAME = 63 - 1 - REVISION_LENGTH
#: Service names and label values: DNS-1035 labels / label values of at most 63 characters.
MAX_LABEL = 63
JOB_SUFFIX = "-validate"
#: Characters of the hash that keeps a shortened name unique (16^5: one collision in ~1M per prefix).
HASH_LENGTH = 5


def serving_fields(spec: QuantizedModelSpec) -> dict[str, object]:
    """The fields that change what serves; any change among them is a new revision.

    Replicas, SLOs, validation and promotion settings are absent on purpose: changing them
    applies in place without a new validation.
    """
    s = spec.serving
    return {
        "model": spec.model.id,
        "modelRevision": spec.model.revision,
        "method": spec.quantization.method.value,
        "dtype": spec.quantization.dtype.value if spec.quantization.dtype else None,
        "gpu": spec.gpu.type,
        "gpuCount": spec.gpu.count,
        # Resolved, so a spec that omits the image hashes like one naming the engine's pinned release.
        "image": spec.image,
        "maxInputTokens": s.max_input_tokens,
        "maxTotalTokens": s.max_total_tokens,
        "maxConcurrentRequests": s.max_concurrent_requests,
        "maxBatchPrefillTokens": s.max_batch_prefill_tokens,
        "maxBatchTotalTokens": s.max_batch_total_tokens,
        # Empty for TGI, so existing TGI revisions keep their hashes; engine and vLLM arguments otherwise.
        **spec.engine_revision_fields(),
    }


def revision_of(spec: QuantizedModelSpec) -> str:
    """A short, stable hash of the serving fields (like a ReplicaSet's pod-template-hash)."""
    canonical = json.dumps(serving_fields(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:REVISION_LENGTH]


def fit_name(base: str, suffix: str = "", limit: int = MAX_LABEL) -> str:
    """`base + suffix` if it fits `limit`, else base shortened with a stable hash of the whole base.

    The hash is of the full base, so two long names that share a prefix never share a child name;
    the suffix (a revision, `-validate`) stays readable at the end.
    """
    if len(base) + len(suffix) <= limit:
        return base + suffix
    digest = _short_hash(base)
    keep = limit - len(suffix) - HASH_LENGTH - 1
    if keep < 1:
        raise ValueError(f"suffix {suffix!r} leaves no room within {limit} characters")
    # A name must end alphanumeric (DNS label) before the joining dash.
    return f"{base[:keep].rstrip('-.')}-{digest}{suffix}"


def revision_name(name: str, revision: str) -> str:
    """Deployment and candidate Service name of one revision: short enough that its Job name fits too."""
    return fit_name(_service_base(name), f"-{revision}", MAX_LABEL - len(JOB_SUFFIX))


def validation_job_name(name: str, revision: str) -> str:
    """`<name>-<rev>-validate`, within 63 characters (a Job name becomes its pods' job-name label)."""
    return revision_name(name, revision) + JOB_SUFFIX


def stable_service_name(name: str) -> str:
    """The model's own name when it is a valid Service name (a DNS-1035 label), else a hashed variant."""
    return fit_name(_service_base(name))


def _service_base(name: str) -> str:
    """A QuantizedModel name is a DNS subdomain: it may hold dots or start with a digit, which a Service
    name may not. Those get dashes, a leading `m-` and a hash that keeps `a.b` apart from `a-b`."""
    if "." not in name and name[:1].isalpha():
        return name
    dashed = name.replace(".", "-") if name[:1].isalpha() else "m-" + name.replace(".", "-")
    return f"{dashed}-{_short_hash(name)}"


def label_value(value: str) -> str:
    """Label values are at most 63 characters; longer names keep a hashed, stable form."""
    return fit_name(value)


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:HASH_LENGTH]


def common_labels(name: str) -> dict[str, str]:
    instance = label_value(name)
    return {LABEL_NAME: "tgi", LABEL_INSTANCE: instance, LABEL_MANAGED_BY: MANAGED_BY, LABEL_MODEL: instance}


def revision_labels(name: str, spec: QuantizedModelSpec, revision: str) -> dict[str, str]:
    labels = {
        **common_labels(name),
        LABEL_COMPONENT: "server",
        LABEL_QUANTIZATION: spec.quantization.method.value,
        LABEL_REVISION: revision,
        LABEL_GPU: spec.gpu.type,
    }
    if spec.engine != Engine.TGI:
        # Not on TGI revisions: a new label in their pod template would restart every TGI pod on upgrade.
        labels |= {LABEL_NAME: spec.engine.value, LABEL_ENGINE: spec.engine.value}
    return labels


def revision_selector(name: str, revision: str) -> dict[str, str]:
    """Selects the pods of one revision; immutable once a Deployment exists, so it names only fixed labels."""
    return {LABEL_INSTANCE: label_value(name), LABEL_MANAGED_BY: MANAGED_BY, LABEL_REVISION: revision}
