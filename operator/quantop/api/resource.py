"""The QuantizedModel resource as a whole, and turning bad input into messages a user can act on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from .spec import QuantizedModelSpec

GROUP = "quantop.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "QuantizedModel"
PLURAL = "quantizedmodels"
SINGULAR = "quantizedmodel"
SHORT_NAMES = ["qm"]


class SpecError(ValueError):
    """A spec that cannot be served as written. ``str()`` says what to change."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


def _location(loc: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _problem(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = err.get("type", "")
    loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
    where = _location(loc)
    if kind == "enum":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"{where}: {err.get('input')!r} is not one of {allowed}"
    if kind == "extra_forbidden":
        return f"{where}: unknown field (check the spelling; see `kubectl explain qm.spec`)"
    if kind == "missing":
        return f"{where}: required field is missing"
    if loc:
        return f"{where}: {msg}"
    return msg


def parse_spec(spec: Mapping[str, Any] | None) -> QuantizedModelSpec:
    """Validate a spec dict (camelCase, as stored in the API) or raise SpecError listing every problem."""
    if not spec:
        raise SpecError("spec is empty: a QuantizedModel needs at least spec.model.id, quantization.method, gpu.type")
    if not isinstance(spec, Mapping):
        raise SpecError(f"spec must be an object, not {type(spec).__name__}")
    try:
        return QuantizedModelSpec.model_validate(dict(spec))
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors()]  # type: ignore[arg-type]
        raise SpecError("; ".join(problems), problems) from None
