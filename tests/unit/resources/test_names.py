"""Child names stay valid Kubernetes names whatever the QuantizedModel is called (issue 15, part 5)."""

from __future__ import annotations

import re

import pytest

from quantop.resources.names import (
    LABEL_INSTANCE,
    common_labels,
    fit_name,
    label_value,
    revision_name,
    revision_selector,
    stable_service_name,
    validation_job_name,
)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
REV = "95e9cc"


NAMES = [
    pytest.param("phi35-eetq", id="short"),
    *[pytest.param(("phi35-sql-fp8-" * 20)[: n - 1] + "z", id=f"len-{n}") for n in (40, 47, 48, 52, 56, 57, 62, 63)],
    pytest.param("a" * 253, id="len-253-subdomain-max"),
    pytest.param("phi3.5-mini.eetq", id="dots"),
    pytest.param("7b-model", id="leading-digit"),
    pytest.param("x" * 46 + "-" * 1 + "y" * 10, id="dash-at-the-cut"),
]


@pytest.mark.parametrize("name", NAMES)
def test_every_child_name_is_a_valid_kubernetes_name_within_63(name: str) -> None:
    deployment, job, service = revision_name(name, REV), validation_job_name(name, REV), stable_service_name(name)
    assert len(job) <= 63 and DNS1123_LABEL.match(job), job
    for child in (deployment, service):  # the revision's Service shares the Deployment's name
        assert len(child) <= 63 and DNS1035_LABEL.match(child), child
    for value in common_labels(name).values():
        assert len(value) <= 63 and LABEL_VALUE.match(value), value
    assert deployment.endswith(f"-{REV}") and job == f"{deployment}-validate"


@pytest.mark.parametrize(
    ("name", "deployment_kept_whole"),
    [
        pytest.param("phi35-eetq", True, id="short"),
        pytest.param("n" * 47, True, id="47-fits-with-job-suffix"),
        pytest.param("n" * 48, False, id="48-would-make-a-64-char-job"),
        pytest.param("n" * 56, False, id="56"),
    ],
)
def test_names_that_fit_are_left_alone_and_only_those_that_do_not_are_hashed(
    name: str, deployment_kept_whole: bool
) -> None:
    assert (revision_name(name, REV) == f"{name}-{REV}") is deployment_kept_whole
    assert len(validation_job_name(name, REV)) <= 63


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("p" * 60 + "-one", "p" * 60 + "-two", id="same-63-char-prefix"),
        pytest.param("phi3.5", "phi3-5", id="dot-versus-dash"),
        pytest.param("q" * 70, "q" * 71, id="same-prefix-different-length"),
    ],
)
def test_shortened_names_stay_distinct(a: str, b: str) -> None:
    assert revision_name(a, REV) != revision_name(b, REV)
    assert stable_service_name(a) != stable_service_name(b)
    assert label_value(a) != label_value(b)


@pytest.mark.parametrize("name", NAMES)
def test_names_are_stable_across_calls_and_selectors_match_labels(name: str) -> None:
    assert revision_name(name, REV) == revision_name(name, REV)
    assert stable_service_name(name) == stable_service_name(name)
    assert revision_selector(name, REV)[LABEL_INSTANCE] == common_labels(name)[LABEL_INSTANCE]


def test_a_suffix_that_leaves_no_room_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no room"):
        fit_name("model", "-" + "s" * 60, limit=63)
