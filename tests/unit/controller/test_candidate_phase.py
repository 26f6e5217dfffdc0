"""status.candidatePhase (the `Candidate` printer column): the spec's revision's phase while it is not the one
serving, unset once it serves, so a failed candidate shows beside the Stable revision that still serves."""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.kubelet import results as kubelet_results
from tests.unit.controller.builders import LONG_AGO, NOW, context, deployment, entry, finished, observed, status
from tests.unit.controller.test_guarding import GUARD as GUARDED
from tests.unit.controller.test_guarding import OLD, PREVIOUS_UP, SLOW, guarded

from quantop.api import QuantizedModelStatus
from quantop.api.status import RevisionVerdict
from quantop.api.timestamps import rfc3339
from quantop.controller.decide import decide
from quantop.controller.outcome import refuse, start

REV = context().revision
AVAILABLE = deployment(REV, created=LONG_AGO)


@pytest.mark.parametrize(
    ("st", "seen", "spec", "phase", "candidate"),
    [
        pytest.param(
            status(stable_revision=REV, promoted_at=rfc3339(LONG_AGO)), observed(AVAILABLE), {}, "Promoted", None,
            id="serving-has-no-candidate",
        ),
        pytest.param(status(stable_revision=OLD), observed(), {}, "Deploying", "Deploying", id="deploying-beside-a-stable"),
        pytest.param(
            status(stable_revision=OLD, history=[entry(REV, RevisionVerdict.FAILED)]),
            observed(deployment(OLD)), {}, "Failed", "Failed",
            id="failed-candidate-while-the-stable-serves",
        ),
        pytest.param(
            status(stable_revision=OLD),
            observed(AVAILABLE, deployment(OLD), **finished(REV, kubelet_results())), {}, "Promoted", None,
            id="promoted-in-this-reconcile-serves",
        ),
        pytest.param(
            guarded(), observed(AVAILABLE, PREVIOUS_UP, guard=SLOW), GUARDED, "Failed", "Failed",
            id="rolled-back-by-the-guard",
        ),
    ],
)  # fmt: skip
def test_candidate_phase(
    st: QuantizedModelStatus, seen: Any, spec: dict[str, Any], phase: str, candidate: str | None
) -> None:
    new, _ = decide(context(**spec), st, seen, NOW)
    assert (new.phase, new.candidate_phase) == (phase, candidate), new.message


@pytest.mark.parametrize(
    ("stable", "before", "candidate"),
    [
        pytest.param(OLD, "Deploying", "Failed", id="refused-beside-a-stable-is-a-failed-candidate"),
        pytest.param(None, "Deploying", None, id="refused-with-nothing-serving-phase-says-it"),
    ],
)
def test_a_refused_spec_leaves_no_stale_candidate_phase(stable: str | None, before: str, candidate: str | None) -> None:
    old = status(stable_revision=stable, candidate_revision=REV, candidate_phase=before)
    out = refuse(start(old, 2), "InvalidSpec", "spec.x: bad", 2)
    assert out.status.candidate_phase == candidate
    assert out.status.candidate_revision is None
