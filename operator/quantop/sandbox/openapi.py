"""The OpenAPI v3 documents kubectl reads, for the resources the sandbox defines itself.

`kubectl explain qm.spec` reads the group-version document's component schema (found by its
`x-kubernetes-group-version-kind`). `kubectl apply` looks there for a PATCH operation that takes
`fieldValidation`: when it finds one, it leaves validation to the server (admission.py) and sends
`fieldValidation=Strict`; no strategic-merge content type is listed, so it sends JSON merge
patches, as it does to a real API server for custom resources.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from quantop.api import GROUP, KIND, PLURAL, VERSION

ROOT = "/openapi/v3"
GV_PATH = f"apis/{GROUP}/{VERSION}"
_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
#: dev.quantop.v1alpha1.QuantizedModel: the group reversed, as Kubernetes names CRD schemas.
SCHEMA_NAME = f"{'.'.join(reversed(GROUP.split('.')))}.{VERSION}.{KIND}"


def _gvk(kind: str = KIND) -> dict[str, str]:
    return {"group": GROUP, "version": VERSION, "kind": kind}


def _param(name: str, where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "schema": {"type": "string"}, "uniqueItems": True}


def _operation(verb: str, kind: str, params: list[str]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{verb}{KIND}",
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": _gvk(kind),
        "parameters": [_param(p) for p in params],
        "responses": {"200": {"description": "OK"}},
    }
    if verb == "patch":
        types = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")
        op["requestBody"] = {"content": {t: {"schema": {"type": "object"}} for t in types}}
    return op


def _paths() -> dict[str, Any]:
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}"
    write = ["dryRun", "fieldManager", "fieldValidation"]
    item = {
        "get": _operation("get", KIND, []),
        "put": _operation("put", KIND, write),
        "patch": _operation("patch", KIND, [*write, "force"]),
        "delete": _operation("delete", KIND, ["dryRun"]),
        "parameters": [_param("name", "path"), _param("namespace", "path")],
    }
    return {
        base: {
            "get": _operation("list", f"{KIND}List", ["labelSelector", "fieldSelector", "watch", "resourceVersion"]),
            "post": _operation("post", KIND, write),
            "parameters": [_param("namespace", "path")],
        },
        base + "/{name}": item,
        base + "/{name}/status": {k: v for k, v in item.items() if k != "delete"},
    }


def _meta_schemas() -> dict[str, Any]:
    def text(description: str) -> dict[str, Any]:
        return {"type": "string", "description": description}

    labels = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    return {
        _META_REF: {
            "type": "object",
            "description": "ObjectMeta is metadata that all persisted resources must have.",
            "properties": {
                "name": text("Name must be unique within a namespace."),
                "namespace": text("Namespace defines the space within which each name must be unique."),
                "labels": {**labels, "description": "Map of string keys and values that select objects."},
                "annotations": {**labels, "description": "Unstructured key value map stored with a resource."},
                "uid": text("UID is the unique in time and space value for this object."),
                "resourceVersion": text("An opaque value that represents the internal version of this object."),
                "generation": {"type": "integer", "format": "int64", "description": "The desired state's sequence."},
                "creationTimestamp": {**text("When this object was created (RFC 3339)."), "format": "date-time"},
            },
        },
        _LIST_META_REF: {
            "type": "object",
            "description": "ListMeta describes metadata that synthetic resources must have.",
            "properties": {"resourceVersion": text("The version of the list.")},
        },
    }


@lru_cache(maxsize=1)
def group_version_document() -> dict[str, Any]:
    """The OpenAPI v3 document of quantop.dev/v1alpha1, its schema taken from the generated CRD."""
    from quantop.api.crd import build_crd

    crd_schema = json.loads(json.dumps(build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]))
    crd_schema["properties"]["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{_META_REF}"}],
        "description": "Standard object's metadata.",
    }
    crd_schema["x-kubernetes-group-version-kind"] = [_gvk()]
    list_schema = {
        "type": "object",
        "description": f"{KIND}List is a list of {KIND}",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{SCHEMA_NAME}"}},
            "metadata": {"allOf": [{"$ref": f"#/components/schemas/{_LIST_META_REF}"}]},
        },
        "x-kubernetes-group-version-kind": [_gvk(f"{KIND}List")],
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": _paths(),
        "components": {"schemas": {SCHEMA_NAME: crd_schema, f"{SCHEMA_NAME}List": list_schema, **_meta_schemas()}},
    }


def _digest() -> str:
    raw = json.dumps(group_version_document(), sort_keys=True).encode()
    return hashlib.sha512(raw).hexdigest()[:64].upper()


def document(path: str) -> dict[str, Any] | None:
    """The answer to GET `path` (without its query), or None when the sandbox has no such document."""
    path = path.rstrip("/")
    if path == ROOT:
        return {"paths": {GV_PATH: {"serverRelativeURL": f"{ROOT}/{GV_PATH}?hash={_digest()}"}}}
    if path == f"{ROOT}/{GV_PATH}":
        return group_version_document()
    return None
