"""What a QuantizedModel author may make the operator run: which images, handed which Secret.

The operator creates Deployments with a cluster-wide right to do so; whoever may create a QuantizedModel
must not borrow that right to run an arbitrary image, or to hand a Secret they cannot read to a pod.
Both lists live in the operator's config (Helm values), which only the cluster's administrators set.
Pure functions: the admission (resources/admission.py) calls them for the operator and `quantop render`.
"""

from __future__ import annotations

from quantop.api import OperatorConfig, QuantizedModelSpec, Reason
from quantop.api.config import secret_pattern_matches
from quantop.api.image_ref import ImageRefError, parse_image_ref

#: Compatible=False reasons of these refusals.
IMAGE_NOT_ALLOWED = Reason.IMAGE_NOT_ALLOWED
SECRET_NOT_ALLOWED = Reason.SECRET_NOT_ALLOWED

_IMAGES_VALUE = "config.allowedImages"
_SECRETS_VALUE = "config.allowedSecrets"


def image_refusal(spec: QuantizedModelSpec, config: OperatorConfig) -> str | None:
    """Why the serving image (the spec's, or the engine's pinned release) may not run, or None."""
    image = spec.image
    field = "spec.serving.image" if spec.serving.image else f"the default {spec.engine.value} image"
    try:
        ref = parse_image_ref(image)
    except ImageRefError as exc:
        return f"{field}: {exc}"
    patterns = config.image_patterns()
    if any(p.matches(ref) for p in patterns):
        return None
    allowed = ", ".join(str(p) for p in patterns) or "none"
    return (
        f"{field} {image} (repository {ref.repository}) is not in the operator's allowed images ({allowed}): "
        f"use an allowed repository, or ask the cluster admin to add it to the Helm value {_IMAGES_VALUE}"
    )


def secret_refusal(spec: QuantizedModelSpec, namespace: str, config: OperatorConfig) -> str | None:
    """Why spec.model.tokenSecretRef may not be handed to the serving pod, or None (also when there is none)."""
    ref = spec.model.token_secret_ref
    if ref is None:
        return None
    patterns = config.secret_patterns(namespace)
    if any(secret_pattern_matches(p, ref.name) for p in patterns):
        return None
    allowed = ", ".join(patterns) or "none"
    return (
        f"spec.model.tokenSecretRef names Secret {ref.name!r}, which QuantizedModels in namespace {namespace} may "
        f"not use (allowed names: {allowed}): put the token in an allowed Secret, or ask the cluster admin to add "
        f"the name to the Helm value {_SECRETS_VALUE}"
    )
