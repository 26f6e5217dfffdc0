"""Names and labels of everything quantop creates, in one place (DESIGN.md section 6)."""

from __future__ import annotations

import hashlib
import json

from quantop.api import QuantizedModelSpec

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
        "image": s.image,
        "maxInputTokens": s.max_input_tokens,
        "maxTotalTokens": s.max_total_tokens,
        "maxConcurrentRequests": s.max_concurrent_requests,
        "maxBatchPrefillTokens": s.max_batch_prefill_tokens,
        "maxBatchTotalTokens": s.max_batch_total_tokens,
    }


def revision_of(spec: QuantizedModelSpec) -> str:
    """A short, stable hash of the serving fields (like a ReplicaSet's pod-template-hash)."""
    canonical = json.dumps(serving_fields(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:REVISION_LENGTH]


def revision_name(name: str, revision: str) -> str:
    """Deployment and candidate Service name of one revision."""
    return f"{name}-{revision}"


def stable_service_name(name: str) -> str:
    return name


def common_labels(name: str) -> dict[str, str]:
    return {LABEL_NAME: "tgi", LABEL_INSTANCE: name, LABEL_MANAGED_BY: MANAGED_BY, LABEL_MODEL: name}


def revision_labels(name: str, spec: QuantizedModelSpec, revision: str) -> dict[str, str]:
    return {
        **common_labels(name),
        LABEL_COMPONENT: "server",
        LABEL_QUANTIZATION: spec.quantization.method.value,
        LABEL_REVISION: revision,
        LABEL_GPU: spec.gpu.type,
    }


def revision_selector(name: str, revision: str) -> dict[str, str]:
    """Selects the pods of one revision; immutable once a Deployment exists, so it names only fixed labels."""
    return {LABEL_INSTANCE: name, LABEL_MANAGED_BY: MANAGED_BY, LABEL_REVISION: revision}
