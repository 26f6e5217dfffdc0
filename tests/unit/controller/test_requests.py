"""One-shot annotations as a table: which value acts, on which revision, and what a leftover does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.unit.controller.builders import LONG_AGO, NOW, context, deployment, entry, other_revision, passed, status

from quantop.api import QuantizedModelStatus
from quantop.api.status import AnnotationRequest, RevisionVerdict
from quantop.api.timestamps import rfc3339
from quantop.controller.actions import ApplyStableService, ClearAnnotation, Count, Event, Scale
from quantop.controller.decide import decide
from quantop.controller.observe import Baseline, Observed

REV = context().revision
OLD = other_revision(**{"quantization.method": "fp8"})
PROMOTE, ROLLBACK = "quantop.dev/promote", "quantop.dev/rollback"
MANUAL = {"promotion.auto": False}


def seen(annotations: dict[str, str], *deps: dict[str, Any]) -> Observed:
    all_deps = (deployment(REV, created=LONG_AGO), *deps)
    return Observed(
        annotations=annotations,
        deployments={d["metadata"]["name"]: d for d in all_deps},
        baseline=Baseline(accuracy=0.8),
    )


def waiting(**kw: Any) -> QuantizedModelStatus:
    """REV passed validation and waits for approval; OLD serves."""
    return status(
        stable_revision=OLD,
        candidate_results=passed(REV),
        history=[entry(OLD, RevisionVerdict.PROMOTED), entry(REV, RevisionVerdict.PASSED)],
        **kw,
    )


def serving_rev(**kw: Any) -> QuantizedModelStatus:
    """REV serves, OLD is the previous revision."""
    return status(
        stable_revision=REV,
        previous_revision=OLD,
        promoted_at=rfc3339(LONG_AGO),
        history=[entry(OLD, RevisionVerdict.PROMOTED), entry(REV, RevisionVerdict.PROMOTED)],
        **kw,
    )


def request(annotation: str, value: str, revision: str | None, consumed: bool) -> AnnotationRequest:
    return AnnotationRequest(annotation=annotation, value=value, revision=revision, consumed=consumed)


@dataclass(frozen=True)
class Case:
    status: QuantizedModelStatus
    annotations: dict[str, str]
    stable: str
    includes: tuple[Any, ...] = ()
    excludes: tuple[Any, ...] = ()
    records: tuple[tuple[str, str, str | None, bool], ...] = ()
    spec: dict[str, Any] = field(default_factory=lambda: dict(MANUAL))


CASES = [
    pytest.param(
        Case(
            waiting(),
            {PROMOTE: "true"},
            REV,
            (ClearAnnotation(PROMOTE), Count("promotion", REV)),
            (),
            ((PROMOTE, "true", REV, True),),
        ),
        id="promote-true-approves-the-candidate",
    ),
    pytest.param(
        Case(waiting(), {PROMOTE: REV}, REV, (Count("promotion", REV),), (), ((PROMOTE, REV, REV, True),)),
        id="promote-naming-the-candidate",
    ),
    pytest.param(
        Case(
            waiting(),
            {PROMOTE: "abc123"},
            OLD,
            (ClearAnnotation(PROMOTE),),
            (Count,),
            ((PROMOTE, "abc123", "abc123", True),),
        ),
        id="promote-naming-another-revision-is-refused",
    ),
    pytest.param(
        Case(
            waiting(requests=[request(PROMOTE, "true", OLD, True)]),
            {PROMOTE: "true"},
            OLD,
            (ClearAnnotation(PROMOTE),),
            (Count,),
            ((PROMOTE, "true", OLD, True),),
        ),
        id="leftover-promote-never-approves-the-next-revision",
    ),
    pytest.param(
        Case(
            waiting(requests=[request(PROMOTE, "true", "gone01", False)]),
            {PROMOTE: "true"},
            OLD,
            (ClearAnnotation(PROMOTE),),
            (Count,),
            ((PROMOTE, "true", "gone01", True),),
        ),
        id="approval-of-an-abandoned-candidate-does-not-carry-over",
    ),
    pytest.param(
        Case(waiting(requests=[request(PROMOTE, "true", OLD, True)]), {}, OLD, (), (ClearAnnotation, Count), ()),
        id="record-dropped-once-the-annotation-is-gone",
    ),
    pytest.param(
        Case(waiting(), {PROMOTE: "false"}, OLD, (), (ClearAnnotation, Count), ()),
        id="promote-false-is-no-request",
    ),
    pytest.param(
        Case(
            serving_rev(),
            {PROMOTE: "true"},
            REV,
            (ClearAnnotation(PROMOTE),),
            (Count,),
            ((PROMOTE, "true", None, True),),
        ),
        id="promote-with-nothing-to-promote",
    ),
    pytest.param(
        Case(
            serving_rev(),
            {ROLLBACK: "true"},
            OLD,
            (ApplyStableService(OLD), ClearAnnotation(ROLLBACK), Count("rollback", OLD)),  # OLD is warm
            (),
            ((ROLLBACK, "true", REV, True),),
        ),
        id="rollback-true",
    ),
    pytest.param(
        Case(serving_rev(), {ROLLBACK: OLD}, OLD, (Count("rollback", OLD),), (), ((ROLLBACK, OLD, REV, True),)),
        id="rollback-naming-the-revision-to-return-to",
    ),
    pytest.param(
        Case(
            serving_rev(),
            {ROLLBACK: "zzz999"},
            REV,
            (ClearAnnotation(ROLLBACK),),
            (Count,),
            ((ROLLBACK, "zzz999", REV, True),),
        ),
        id="rollback-naming-no-known-revision-is-refused",
    ),
    pytest.param(
        Case(
            status(
                stable_revision=OLD,
                previous_revision=REV,
                history=[entry(REV, RevisionVerdict.ROLLED_BACK)],
                requests=[request(ROLLBACK, "true", REV, True)],
            ),
            {ROLLBACK: "true"},
            OLD,
            (ClearAnnotation(ROLLBACK),),
            (Count, Scale),
            ((ROLLBACK, "true", REV, True),),
        ),
        id="leftover-rollback-never-rolls-back-twice",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_one_shot_annotations(case: Case) -> None:
    new, actions = decide(context(**case.spec), case.status, seen(case.annotations, deployment(OLD)), NOW)
    assert new.stable_revision == case.stable
    for action in case.includes:
        assert action in actions, f"{action} not in {actions}"
    for excluded in case.excludes:
        assert not [a for a in actions if (isinstance(a, excluded) if isinstance(excluded, type) else a == excluded)]
    assert tuple((r.annotation, r.value, r.revision, r.consumed) for r in new.requests) == case.records


def test_an_overlong_value_is_refused_and_kept_short() -> None:
    value = "x" * 200_000  # annotations may hold 256 KiB; status and Events must not
    new, actions = decide(context(**MANUAL), waiting(), seen({PROMOTE: value}, deployment(OLD)), NOW)
    assert new.stable_revision == OLD and ClearAnnotation(PROMOTE) in actions
    (record,) = new.requests
    assert record.consumed and len(record.value) < 100
    again, actions = decide(context(**MANUAL), new, seen({PROMOTE: value}, deployment(OLD)), NOW)
    assert again.requests == new.requests and not [a for a in actions if isinstance(a, Event)]


def test_a_refused_request_says_why() -> None:
    _, actions = decide(context(**MANUAL), waiting(), seen({PROMOTE: "abc123"}, deployment(OLD)), NOW)
    warnings = [a for a in actions if isinstance(a, Event) and a.type == "Warning"]
    assert warnings and "abc123" in warnings[0].message and REV in warnings[0].message


def test_a_pending_approval_waits_for_the_candidate_to_pass() -> None:
    """promote=true set while the candidate validates: bound to it, acted on once it passes."""
    validating = status(stable_revision=OLD, history=[entry(OLD, RevisionVerdict.PROMOTED)])
    first, actions = decide(context(**MANUAL), validating, seen({PROMOTE: "true"}, deployment(OLD)), NOW)
    assert [(r.value, r.revision, r.consumed) for r in first.requests] == [("true", REV, False)]
    assert not [a for a in actions if isinstance(a, ClearAnnotation)]
    passed_now = first.model_copy(update={"candidate_results": passed(REV)})
    then, _ = decide(context(**MANUAL), passed_now, seen({PROMOTE: "true"}, deployment(OLD)), NOW)
    assert then.stable_revision == REV
