"""The securityContext of every pod quantop creates: serving pods (TGI, vLLM) and its own Jobs.

One place, so the serving engines and the validation Job cannot drift apart. What each engine tolerates
was read from its image's Dockerfile (docs/security.md has the sources):

- Both images run as root: TGI's has no USER and its Python interpreter lives under /root (uv's managed
  CPython, /root/.local/share/uv/python, reached through the /usr/src/.venv symlink); vLLM's has no USER
  either. /root is mode 0700 in their Ubuntu bases, so another UID cannot even start the server: serving
  containers keep the image's user, without any capability, privilege escalation or host access.
- The root filesystem stays writable for serving: TGI's entrypoint runs `ldconfig`, Triton, FlashInfer and
  outlines compile or cache under $HOME at run time, and on CDI-mode GPU nodes the NVIDIA hook fails to
  create a container whose root filesystem is read-only (kserve/kserve#5711).
- quantop's own image runs as UID 65532 on a read-only root filesystem (the Dockerfile's USER).
"""

from __future__ import annotations

from typing import Any

#: The UID of quantop's own image (Dockerfile: USER 65532:65532).
QUANTOP_UID = 65532


def serving_container_security_context() -> dict[str, Any]:
    """TGI and vLLM: the image's (root) user with no capability, no privilege escalation, the runtime's seccomp."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def quantop_container_security_context() -> dict[str, Any]:
    """quantop's own containers (validation Jobs): also non-root and a read-only root filesystem."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def quantop_pod_security_context() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": QUANTOP_UID, "seccompProfile": {"type": "RuntimeDefault"}}


def serving_pod_fields() -> dict[str, Any]:
    """Pod-level fields of a serving pod: no API token, no Service environment variables, RuntimeDefault seccomp.

    Service links are off because TGI reads every flag from an environment variable of the same name: a
    Service named `master` in the namespace would set MASTER_PORT=tcp://... and break the launcher.
    """
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
