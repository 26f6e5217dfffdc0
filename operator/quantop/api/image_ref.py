"""Container image references parsed the way a container runtime resolves them, for the image allow list.

A string prefix says nothing about where an image comes from: `ghcr.io/huggingface/text-generation-inference.evil.com/x`
starts with TGI's repository and is another one. The grammar is distribution/reference's (the one
containerd and Docker use): `[domain/]path[:tag][@digest]`, where the first component is a domain only
when it has a `.`, a `:` or an upper-case letter or is `localhost`, and a name with no domain is on Docker Hub (`docker.io`,
official images under `library/`). Anything the grammar does not accept is refused, not guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
#: Docker Hub's legacy names for itself; a runtime pulls all of them from the same registry.
_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io"}
#: distribution/reference's limit on the name (domain + path).
MAX_NAME_LENGTH = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"^{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]{{1,5}})?$")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$")


class ImageRefError(ValueError):
    """The string is not an image reference a runtime would pull; the message says what is wrong."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed reference: `domain` lower-cased, Docker Hub spelled `docker.io`, official images under `library/`."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """`domain/path`: what the allow list matches (the tag and digest do not change where it comes from)."""
        return f"{self.domain}/{self.path}"


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    # Docker's rule, upper case included: `Evil/x` names a host "Evil", not the Docker Hub user "evil".
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain = first.lower()
        return (DOCKER_HUB if domain in _HUB_ALIASES else domain), rest
    return DOCKER_HUB, name


def _check_path(domain: str, path: str, text: str) -> str:
    components = path.split("/")
    for component in components:
        if not _PATH_COMPONENT.match(component):
            raise ImageRefError(
                f"image {text!r}: repository path component {component!r} is not lower-case letters, "
                "digits and single separators (. _ __ -)"
            )
    if domain == DOCKER_HUB and len(components) == 1:
        return f"library/{path}"
    return path


def _split_suffixes(text: str) -> tuple[str, str | None, str | None]:
    """`name[:tag][@digest]` -> (name, tag, digest); a `:` after the last `/` starts the tag."""
    name, at, digest = text.partition("@")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, (digest if at else None)


def parse_image_ref(text: str) -> ImageRef:
    """Parse `[domain/]path[:tag][@digest]`, or raise ImageRefError naming the part that is wrong."""
    if not text or len(text) > 512 or not text.isascii() or not text.isprintable() or " " in text:
        raise ImageRefError(f"image {text[:80]!r}: not a printable ASCII reference of 1-512 characters")
    name, tag, digest = _split_suffixes(text)
    if tag is not None and not _TAG.match(tag):
        raise ImageRefError(f"image {text!r}: tag {tag!r} is not 1-128 of [A-Za-z0-9_.-] (not starting with . or -)")
    if digest is not None and not _DIGEST.match(digest):
        raise ImageRefError(f"image {text!r}: digest must be sha256:<64 lower-case hex> (or sha512:<128>)")
    if len(name) > MAX_NAME_LENGTH:
        raise ImageRefError(f"image {text[:80]!r}...: name longer than {MAX_NAME_LENGTH} characters")
    domain, path = _split_domain(name)
    if not _DOMAIN.match(domain):
        raise ImageRefError(f"image {text!r}: registry {domain!r} is not a host name with an optional port")
    return ImageRef(domain, _check_path(domain, path, text), tag, digest)


@dataclass(frozen=True)
class RepositoryPattern:
    """One allow-list entry: a repository (`ghcr.io/org/name`), or every repository under a path (`ghcr.io/org/*`)."""

    prefix: str
    subtree: bool

    def matches(self, ref: ImageRef) -> bool:
        repository = ref.repository
        if self.subtree:
            # A path boundary, not a string prefix: ghcr.io/org/* admits ghcr.io/org/x, never ghcr.io/org-evil/x.
            return repository.startswith(self.prefix + "/")
        return repository == self.prefix

    def __str__(self) -> str:
        return f"{self.prefix}/*" if self.subtree else self.prefix


def _subtree_pattern(entry: str) -> RepositoryPattern:
    """`registry/*` or `registry/path/*`: the registry must be written (a bare `org/*` would be ambiguous)."""
    base = entry[:-2]
    first, _, path = base.partition("/")
    if not ("." in first or ":" in first or first == "localhost"):
        raise ImageRefError(f"allowed image entry {entry!r}: start with the registry, e.g. docker.io/{base}/*")
    domain, _ = _split_domain(f"{first}/x")
    if not _DOMAIN.match(domain):
        raise ImageRefError(f"allowed image entry {entry!r}: registry {first!r} is not a host name")
    if path and not all(_PATH_COMPONENT.match(c) for c in path.split("/")):
        raise ImageRefError(f"allowed image entry {entry!r}: repository path {path!r} is not a valid path")
    return RepositoryPattern(f"{domain}/{path}" if path else domain, subtree=True)


def parse_repository_pattern(entry: str) -> RepositoryPattern:
    """An allow-list entry, normalized like an image (`vllm/vllm-openai` is `docker.io/vllm/vllm-openai`)."""
    if entry == "*":
        # Deliberately unsupported: an operator that runs any image lends its rights to every author.
        raise ImageRefError(
            "allowed image entry '*' would admit any image: list registries, e.g. registry.example.com/*"
        )
    if entry.endswith("/*"):
        return _subtree_pattern(entry)
    try:
        ref = parse_image_ref(entry)
    except ImageRefError as exc:
        raise ImageRefError(f"allowed image entry {entry!r}: {exc}") from None
    if ref.tag is not None or ref.digest is not None:
        raise ImageRefError(f"allowed image entry {entry!r}: list repositories without a tag or digest")
    return RepositoryPattern(ref.repository, subtree=False)
