"""KubeClient repeats a read once after a transient failure, never a write (its outcome may be unknown)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from quantop.controller.kube import Credentials, KubeClient, KubeError

OBJ = {"metadata": {"name": "m", "namespace": "llm"}}
Answer = Callable[[httpx.Request], httpx.Response]


def answers(*steps: int | str) -> tuple[Answer, list[str]]:
    """A server answering each request with the next step: a status code, or "timeout"."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        step = steps[min(len(seen), len(steps) - 1)]
        seen.append(request.method)
        if step == "timeout":
            raise httpx.ReadTimeout("held past the client's timeout", request=request)
        return httpx.Response(int(step), json=OBJ if step == 200 else {"message": f"answered {step}"})

    return answer, seen


def client_for(answer: Answer) -> KubeClient:
    client = KubeClient(Credentials(server="http://api.test"))
    client._http = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(answer))
    return client


READS = [
    pytest.param((500, 200), 2, "found", id="500-then-ok"),
    pytest.param((503, 200), 2, "found", id="503-then-ok"),
    pytest.param((429, 200), 2, "found", id="throttled-then-ok"),
    pytest.param(("timeout", 200), 2, "found", id="timeout-then-ok"),
    pytest.param((500, 500), 2, "500", id="twice-500-is-an-error"),
    pytest.param(("timeout", "timeout"), 2, "timeout", id="twice-timeout-is-an-error"),
    pytest.param((404,), 1, "missing", id="404-is-an-answer"),
    pytest.param((403, 200), 1, "403", id="forbidden-is-not-repeated"),
    pytest.param((409, 200), 1, "409", id="conflict-is-not-repeated"),
]


@pytest.mark.parametrize(("steps", "requests", "outcome"), READS)
async def test_a_read_is_repeated_once_after_a_transient_failure(
    steps: tuple[int | str, ...], requests: int, outcome: str
) -> None:
    answer, seen = answers(*steps)
    client = client_for(answer)
    try:
        got = await client.get("Deployment", "llm", "m")
        result = "found" if got == OBJ else "missing"
    except KubeError as exc:
        result = str(exc.status)
    except httpx.TimeoutException:
        result = "timeout"
    finally:
        await client.aclose()
    assert (result, len(seen), client.reads) == (outcome, requests, requests)


@pytest.mark.parametrize("failure", [500, 503, "timeout"])
async def test_a_write_is_never_repeated(failure: int | str) -> None:
    answer, seen = answers(failure, 200)
    client = client_for(answer)
    with pytest.raises((KubeError, httpx.TimeoutException)):
        await client.patch("Deployment", "llm", "m", {"spec": {"replicas": 0}})
    await client.aclose()
    assert seen == ["PATCH"] and client.writes == 1 and client.reads == 0
