"""fieldSelector and labelSelector as kube-apiserver reads them, hostile ones included."""

from __future__ import annotations

from typing import Any

import pytest

from quantop.sandbox.selectors import (
    MAX_SELECTOR,
    SelectorError,
    field_selector,
    label_selector,
    query_matcher,
    selector_event,
    watch_requested,
)

POD: dict[str, Any] = {
    "metadata": {"name": "m7-abc", "namespace": "llm", "labels": {"app": "tgi", "tier": "gpu", "rev": "abc"}},
    "involvedObject": {"kind": "QuantizedModel", "name": "m7"},
    "spec": {"hostNetwork": False},
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        pytest.param("", True, id="empty-selects-all"),
        pytest.param("metadata.name=m7-abc", True, id="equals"),
        pytest.param("metadata.name==m7-abc", True, id="double-equals"),
        pytest.param("metadata.name=m7", False, id="other-name"),
        pytest.param("metadata.name!=m7", True, id="not-equals"),
        pytest.param("involvedObject.name=m7,involvedObject.kind=QuantizedModel", True, id="conjunction"),
        pytest.param("involvedObject.name=m7,involvedObject.kind=Pod", False, id="conjunction-one-fails"),
        pytest.param("involvedObject.uid=", True, id="absent-field-equals-empty"),
        pytest.param("spec.hostNetwork=false", True, id="booleans-as-the-api-writes-them"),
    ],
)
def test_field_selector(selector: str, matches: bool) -> None:
    assert field_selector(selector)(POD) is matches


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        pytest.param("app=tgi", True, id="equals"),
        pytest.param("app=vllm", False, id="other-value"),
        pytest.param("app!=vllm", True, id="not-equals"),
        pytest.param("missing!=x", True, id="not-equals-matches-absent"),
        pytest.param("tier in (gpu,cpu)", True, id="in"),
        pytest.param("tier notin (gpu)", False, id="notin"),
        pytest.param("missing notin (x)", True, id="notin-matches-absent"),
        pytest.param("app", True, id="exists"),
        pytest.param("!app", False, id="not-exists"),
        pytest.param("app=tgi,tier in (cpu, gpu),!missing", True, id="mixed"),
        pytest.param("app.kubernetes.io/instance=m7", False, id="prefixed-key-absent"),
    ],
)
def test_label_selector(selector: str, matches: bool) -> None:
    assert label_selector(selector)(POD) is matches


@pytest.mark.parametrize(
    ("selector", "says"),
    [
        pytest.param("a" * (MAX_SELECTOR + 1), "at most", id="too-long"),
        pytest.param("app=(tgi", "invalid label selector term", id="unbalanced"),
        pytest.param("app in tgi", "invalid label selector term", id="set-without-parens"),
        pytest.param("!app in (x)", "invalid label selector term", id="negated-set"),
        pytest.param("app=a=b", "invalid label selector term", id="two-equals"),
        pytest.param("a b c", "invalid label selector term", id="spaces"),
    ],
)
def test_hostile_label_selectors_are_one_line_errors(selector: str, says: str) -> None:
    with pytest.raises(SelectorError, match=says):
        label_selector(selector)


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("metadata.name", id="no-operator"),
        pytest.param("metadata.name in (a)", id="set-based"),
        pytest.param("metadata.name=a b", id="space-in-value"),
    ],
)
def test_field_selectors_take_only_equality(selector: str) -> None:
    with pytest.raises(SelectorError, match="field=value"):
        field_selector(selector)


def test_a_query_combines_both_selectors() -> None:
    assert query_matcher({"fieldSelector": "metadata.name=m7-abc", "labelSelector": "app=tgi"})(POD)
    assert not query_matcher({"fieldSelector": "metadata.name=m7-abc", "labelSelector": "app=x"})(POD)


@pytest.mark.parametrize(
    ("query", "watch"),
    [
        pytest.param({}, False, id="absent"),
        pytest.param({"watch": "true"}, True, id="true"),
        pytest.param({"watch": "1"}, True, id="one"),
        pytest.param({"watch": "True"}, True, id="capitalised"),
        pytest.param({"watch": ""}, True, id="empty-is-true"),
        pytest.param({"watch": "yes"}, True, id="anything-else-is-true"),
        pytest.param({"watch": "0"}, False, id="zero"),
        pytest.param({"watch": "false"}, False, id="false"),
        pytest.param({"watch": "FALSE"}, False, id="false-any-case"),
    ],
)
def test_the_watch_parameter_is_a_bool_as_kube_apiserver_converts_it(query: dict[str, str], watch: bool) -> None:
    assert watch_requested(query) is watch


@pytest.mark.parametrize(
    ("event", "before", "now", "sent"),
    [
        pytest.param("ADDED", False, True, "ADDED", id="new-and-matching"),
        pytest.param("ADDED", False, False, None, id="new-not-matching"),
        pytest.param("MODIFIED", True, True, "MODIFIED", id="still-matching"),
        pytest.param("MODIFIED", False, True, "ADDED", id="starts-matching"),
        pytest.param("MODIFIED", True, False, "DELETED", id="stops-matching"),
        pytest.param("MODIFIED", False, False, None, id="never-matching"),
        pytest.param("DELETED", True, False, "DELETED", id="deleted-while-matching"),
        pytest.param("DELETED", True, True, "DELETED", id="deleted-matching-object"),
        pytest.param("DELETED", False, False, None, id="deleted-unseen"),
    ],
)
def test_a_selector_filtered_watch_sends_what_the_watch_cache_sends(
    event: str, before: bool, now: bool, sent: str | None
) -> None:
    assert selector_event(event, before, now) == sent
