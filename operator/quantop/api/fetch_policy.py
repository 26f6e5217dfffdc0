"""Where a fetch of a user's URL may connect: the operator's config, and the environment that carries it.

The policy is one value in the operator's config file (`fetch:`), and two environment variables
in every process that fetches: the operator exports them at startup and puts the same pair in
each validation Job it creates, so `quantop validate` in the Job and the operator's probe refuse
the same addresses. It lives in the API layer because the Job builder (resources) and the fetch
(validation) are independent layers that must agree on it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Hosts a redirect may lead to, comma-separated (e.g. the CDN that a dataset hub redirects to).
REDIRECT_HOSTS_ENV = "QUANTOP_FETCH_REDIRECT_HOSTS"
#: Networks no fetch may connect to besides the ones always denied: CIDRs or the names in NETWORK_ALIASES.
DENIED_NETWORKS_ENV = "QUANTOP_FETCH_DENIED_NETWORKS"


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


#: Never a dataset server: the node's link-local range (where cloud credentials are served), the
#: metadata services outside it, addresses that mean "this host" or "everyone", and reserved space.
ALWAYS_DENIED: tuple[IPNetwork, ...] = _nets(
    "169.254.0.0/16",  # IPv4 link-local: AWS, GCP, Azure and OCI metadata at 169.254.169.254
    "fe80::/10",  # IPv6 link-local
    "fd00:ec2::254/128",  # AWS metadata over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "168.63.129.16/32",  # Azure WireServer (VM agent, certificates)
    "0.0.0.0/8",  # "this network": Linux connects 0.0.0.0 to the local host
    "::/128",  # unspecified
    "224.0.0.0/4",  # IPv4 multicast
    "ff00::/8",  # IPv6 multicast
    "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
)

#: Names an operator may list in deniedNetworks instead of the CIDRs they stand for.
NETWORK_ALIASES: Mapping[str, tuple[IPNetwork, ...]] = {
    "loopback": _nets("127.0.0.0/8", "::1/128"),
    # RFC 1918, carrier-grade NAT (some clusters' pod and Service ranges) and IPv6 unique-local.
    "private": _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"),
}


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (a bare address is its /32 or /128) and aliases; ValueError names the first bad entry."""
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip().lower()
        if entry in NETWORK_ALIASES:
            networks.extend(NETWORK_ALIASES[entry])
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names = ", ".join(sorted(NETWORK_ALIASES))
            raise ValueError(
                f"denied network {raw!r:.80} is neither a CIDR (e.g. 10.0.0.0/8) nor one of {names}"
            ) from None
    return tuple(networks)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (v4-mapped, 6to4, Teredo, NAT64): it reaches that address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _CARRY_LOW_32_BITS) and int(address) > 1:  # not :: or ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


#: IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64, SIIT, and the deprecated IPv4-compatible form.
_CARRY_LOW_32_BITS = _nets("64:ff9b::/96", "::ffff:0:0:0/96", "::/96")


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


class FetchPolicy(BaseModel):
    """`fetch:` in the operator's config: where user URLs may lead."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    redirect_hosts: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="Hosts a dataset URL may redirect to (e.g. a hub's CDN); every other redirect is refused.",
    )
    denied_networks: list[str] = Field(
        default_factory=list,
        max_length=256,
        description=(
            "Networks no fetch may connect to, besides link-local, metadata, unspecified, multicast and "
            "broadcast addresses, which are always denied: CIDRs, or `private` and `loopback`."
        ),
    )

    @field_validator("redirect_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        cleaned = [h.strip().lower().rstrip(".") for h in hosts]
        if any(not h or "," in h or "/" in h or " " in h for h in cleaned):
            raise ValueError("redirectHosts: give bare host names (cdn.example.org), no scheme, path or comma")
        return cleaned

    @field_validator("denied_networks")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        if any("," in e for e in entries):
            raise ValueError("deniedNetworks: one CIDR or alias per entry, no commas")
        parse_networks(entries)
        return [e.strip().lower() for e in entries]

    def networks(self) -> tuple[IPNetwork, ...]:
        """Every denied network: the ones always denied and the configured ones."""
        return ALWAYS_DENIED + parse_networks(self.denied_networks)

    def env(self) -> dict[str, str]:
        """The environment that carries this policy to another process (a validation Job)."""
        return {REDIRECT_HOSTS_ENV: ",".join(self.redirect_hosts), DENIED_NETWORKS_ENV: ",".join(self.denied_networks)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FetchPolicy:
        """The policy of this process; ValueError (one line) names a bad variable."""
        environ = os.environ if environ is None else environ
        try:
            return cls(
                redirect_hosts=_split(environ.get(REDIRECT_HOSTS_ENV, "")),
                denied_networks=_split(environ.get(DENIED_NETWORKS_ENV, "")),
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError; keep its first message only
            first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
            raise ValueError(f"{REDIRECT_HOSTS_ENV}/{DENIED_NETWORKS_ENV}: {first}") from None
