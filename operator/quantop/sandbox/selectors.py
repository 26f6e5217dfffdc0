"""fieldSelector and labelSelector as the API server reads them, for the emulated API server.

kmock ignores both; kubectl relies on them (`wait` watches `metadata.name=<name>`, `describe`
lists Events by `involvedObject.*`), and so does anything selecting pods by label.
A selector the server cannot parse is a 400 with a one-line reason, as on a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

#: A selector longer than this is refused (the real API server caps the whole URL; this caps the work).
MAX_SELECTOR = 4096

_SET_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\(([^()]*)\))?\s*$")
_EQ_TERM = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")

Matcher = Callable[[Mapping[str, Any]], bool]


class SelectorError(ValueError):
    """A selector that does not parse; str() says which term."""


def _split_terms(selector: str) -> list[str]:
    """Commas separate terms, except inside `in (a,b)` sets."""
    if len(selector) > MAX_SELECTOR:
        raise SelectorError(f"selector is {len(selector)} characters, at most {MAX_SELECTOR} are accepted")
    terms, depth, start = [], 0, 0
    for i, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return [t for t in terms if t.strip()]


def field_selector(selector: str) -> Matcher:
    """`a.b=c,d!=e` (=, == and != only, as the API server): a predicate on whole objects."""
    checks: list[tuple[str, str, bool]] = []
    for term in _split_terms(selector):
        found = _EQ_TERM.match(term)
        if not found:
            raise SelectorError(f"invalid field selector term {term.strip()!r}: use field=value or field!=value")
        path, op, value = found.groups()
        checks.append((path, value, op == "!="))

    def matches(obj: Mapping[str, Any]) -> bool:
        for path, value, negate in checks:
            actual = _field(obj, path)
            if (actual == value) == negate:
                return False
        return True

    return matches


def label_selector(selector: str) -> Matcher:
    """`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`: a predicate on objects' labels."""
    checks: list[Callable[[Mapping[str, str]], bool]] = [_label_term(term) for term in _split_terms(selector)]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    if found := _EQ_TERM.match(term):
        key, op, value = found.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    found = _SET_TERM.match(term)
    if not found or (found.group(1) and found.group(3)):
        raise SelectorError(f"invalid label selector term {term.strip()!r}: use key=value, key!=value, key in (a,b)")
    bang, key, op, values = found.groups()
    if op is None:
        return (lambda labels: key not in labels) if bang else (lambda labels: key in labels)
    members = {v.strip() for v in values.split(",")}
    if op == "in":
        return lambda labels: labels.get(key) in members
    return lambda labels: labels.get(key) not in members


def _field(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def query_matcher(query: Mapping[str, str]) -> Matcher:
    """Both selectors of a list or watch request's query, combined."""
    fields = field_selector(query.get("fieldSelector", ""))
    labels = label_selector(query.get("labelSelector", ""))
    return lambda obj: fields(obj) and labels(obj)


def watch_requested(query: Mapping[str, str]) -> bool:
    """`?watch=...` as kube-apiserver reads a bool query parameter: present and not "0" or "false".

    kmock opens a watch only for `watch=true`; a client sending `watch=1` gets a watch from a real server.
    """
    if "watch" not in query:
        return False
    return query["watch"] != "0" and query["watch"].lower() != "false"


def selector_event(kind: str, matched_before: bool, matches_now: bool) -> str | None:
    """What a selector-filtered watch sends for a change, as kube-apiserver's watch cache does.

    An object that starts matching arrives as ADDED, one that stops matching (a label removed) as
    DELETED, and one that matched neither before nor now is not sent.
    """
    if kind == "DELETED" or not matches_now:
        return "DELETED" if matched_before else None
    return kind if matched_before else "ADDED"
