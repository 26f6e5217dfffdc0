"""`fetch:` in the operator's config: what it accepts, what it refuses, and its round trip through a Job's env."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from quantop.api import OperatorConfig
from quantop.api.fetch_policy import ALWAYS_DENIED, FetchPolicy


def config(fetch: dict[str, object]) -> OperatorConfig:
    return OperatorConfig.model_validate({"gpuProfiles": {}, "fetch": fetch})


@pytest.mark.parametrize(
    ("fetch", "message"),
    [
        pytest.param({"deniedNetworks": ["intranet"]}, "'intranet' is neither a CIDR", id="unknown-alias"),
        pytest.param({"deniedNetworks": ["10.0.0.0/33"]}, "'10.0.0.0/33' is neither a CIDR", id="bad-prefix"),
        pytest.param({"deniedNetworks": ["10.0.0.0/8,fc00::/7"]}, "one CIDR or alias per entry", id="comma"),
        pytest.param({"redirectHosts": ["https://cdn.example.org"]}, "give bare host names", id="url"),
        pytest.param({"redirectHosts": ["a.org,b.org"]}, "give bare host names", id="comma-host"),
        pytest.param({"redirectHosts": [""]}, "give bare host names", id="empty-host"),
        pytest.param({"denyPrivate": True}, "Extra inputs are not permitted", id="unknown-key"),
    ],
)
def test_malformed_policies_are_refused_saying_what_to_fix(fetch: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(fetch)


def test_aliases_and_cidrs_expand_after_the_always_denied_networks() -> None:
    policy = config({"deniedNetworks": ["Private", " 192.0.2.7 "], "redirectHosts": ["CDN.Example.org."]}).fetch
    networks = policy.networks()
    assert networks[: len(ALWAYS_DENIED)] == ALWAYS_DENIED
    extra = {str(n) for n in networks[len(ALWAYS_DENIED) :]}
    assert extra == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "192.0.2.7/32"}
    assert policy.redirect_hosts == ["cdn.example.org"]


def test_the_env_a_job_gets_gives_back_the_same_policy() -> None:
    policy = config({"deniedNetworks": ["loopback", "10.96.0.0/12"], "redirectHosts": ["cdn.example.org"]}).fetch
    assert FetchPolicy.from_env(policy.env()) == policy
    assert FetchPolicy.from_env({}) == FetchPolicy()


def test_the_always_denied_networks_cover_link_local_and_metadata() -> None:
    for address in ("169.254.169.254", "fe80::1", "fd00:ec2::254", "0.0.0.0", "::", "255.255.255.255", "ff02::1"):
        assert any(ipaddress.ip_address(address) in n for n in ALWAYS_DENIED), address
    for address in ("127.0.0.1", "::1", "10.0.0.1", "192.168.1.1", "8.8.8.8"):
        assert not any(ipaddress.ip_address(address) in n for n in ALWAYS_DENIED), address
