"""What the emulated API server refuses before storing an object, as kube-apiserver would.

Name rules per kind (DNS-1123 subdomain for most, a DNS-1035 label for Services, at most 63
characters for Jobs, whose name becomes a label), label syntax, and for QuantizedModels the
CRD's structural schema and CEL rules. Refusals are 422 `Invalid` Status bodies with the
API server's wording; unknown fields are 400 with `fieldValidation=Strict` (kubectl's default)
and otherwise pruned with a warning. Whatever is not enforced here, no test would see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import cel, schema

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
MAX_ANNOTATIONS_BYTES = 256 * 1024

_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
#: plural -> (pattern, its message, maximum length) for metadata.name.
_NAME_RULES: dict[str, tuple[re.Pattern[str], str, int]] = {
    "services": (DNS1035_LABEL, _DNS1035_MSG, 63),
    "namespaces": (DNS1123_LABEL, _LABEL_MSG, 63),
    "jobs": (DNS1123_SUBDOMAIN, _SUBDOMAIN_MSG, 63),  # the name becomes the pods' job-name label
}
_DEFAULT_NAME_RULE = (DNS1123_SUBDOMAIN, _SUBDOMAIN_MSG, 253)


@dataclass
class Verdict:
    """The object to store (defaulted, pruned), or why not; warnings go to the Warning header."""

    obj: dict[str, Any]
    invalid: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def name_errors(plural: str, name: Any) -> list[str]:
    if not isinstance(name, str) or not name:
        return ["metadata.name: Required value: name or generateName is required"]
    pattern, message, limit = _NAME_RULES.get(plural, _DEFAULT_NAME_RULE)
    errors = []
    if len(name) > limit:
        errors.append(f'metadata.name: Invalid value: "{name}": must be no more than {limit} characters')
    if not pattern.match(name):
        errors.append(f'metadata.name: Invalid value: "{name}": {message}')
    return errors


def label_errors(labels: Any) -> list[str]:
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return ["metadata.labels: Invalid value: must be a map of strings"]
    errors = []
    for key, value in labels.items():
        errors += [f"metadata.labels: {e}" for e in qualified_name_errors(str(key))]
        if not isinstance(value, str):
            errors.append(f'metadata.labels: Invalid value: "{key}": label values must be strings')
        elif len(value) > 63 or not LABEL_VALUE.match(value):
            errors.append(
                f'metadata.labels: Invalid value: "{value}": a valid label must be an empty string or consist '
                "of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                "character, at most 63 characters"
            )
    return errors


def qualified_name_errors(key: str) -> list[str]:
    """A label or annotation key: an optional DNS subdomain prefix (253) and a name (63)."""
    prefix, slash, name = key.rpartition("/")
    errors = []
    if slash and not prefix:
        errors.append(f'Invalid value: "{key}": prefix part must be non-empty')
    elif prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        errors.append(f'Invalid value: "{key}": prefix part {_SUBDOMAIN_MSG}')
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        errors.append(
            f"Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character, at most 63 characters"
        )
    return errors


def metadata_errors(plural: str, meta: Mapping[str, Any]) -> list[str]:
    errors = name_errors(plural, meta.get("name")) + label_errors(meta.get("labels"))
    annotations = meta.get("annotations") or {}
    if isinstance(annotations, Mapping):
        for key in annotations:
            errors += [f"metadata.annotations: {e}" for e in qualified_name_errors(str(key))]
        size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
        if size > MAX_ANNOTATIONS_BYTES:
            errors.append(f"metadata.annotations: Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes")
    return errors


@lru_cache(maxsize=1)
def crd_schema() -> dict[str, Any]:
    """The QuantizedModel schema, built from the pydantic models like the committed CRD."""
    from quantop.api.crd import build_crd

    schema_: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema_


def admit(plural: str, obj: Mapping[str, Any], *, custom: bool) -> Verdict:
    """Name and label rules for every kind; the structural schema and CEL rules for the CRD's objects."""
    meta = obj.get("metadata") or {}
    verdict = Verdict(obj=dict(obj), invalid=metadata_errors(plural, meta))
    if not custom:
        return verdict
    stored, outcome = schema.admit(obj, crd_schema())
    verdict.obj, verdict.unknown = stored, outcome.unknown
    verdict.invalid += outcome.errors
    if not outcome.errors:
        body = {k: v for k, v in stored.items() if k not in schema.ROOT_FIELDS}
        verdict.invalid += cel.rule_errors(body, schema.without_root(crd_schema()), "")
    verdict.warnings = [f'unknown field "{path}"' for path in outcome.unknown]
    return verdict


def invalid_status(kind: str, group: str, name: str, errors: list[str]) -> dict[str, Any]:
    """The 422 body kube-apiserver sends: one message with every cause, and each cause on its own."""
    qualified = f"{kind}.{group}" if group else kind
    summary = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    causes = []
    for error in errors:
        where, _, detail = error.partition(": ")
        reason = "FieldValueRequired" if detail.startswith("Required") else "FieldValueInvalid"
        causes.append({"reason": reason, "message": detail, "field": where})
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{qualified} "{name}" is invalid: {summary}',
        "reason": "Invalid",
        "details": {"name": name, "group": group, "kind": kind, "causes": causes},
        "code": 422,
    }


def strict_decoding_status(kind: str, version: str, unknown: list[str]) -> dict[str, Any]:
    """kubectl's default (`fieldValidation=Strict`): unknown fields are a 400, not silently dropped."""
    fields = ", ".join(f'unknown field "{path}"' for path in unknown)
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {fields}',
        "reason": "BadRequest",
        "code": 400,
    }
