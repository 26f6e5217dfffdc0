"""Waiting for the endpoint: fail fast when nothing listens, wait (and say so) for a server that is starting."""

from __future__ import annotations

import pytest
from tests.hostile import hostile_server

from quantop.validation.load import Health, LoadError, look, ready_decision, wait_until_ready

READY, REFUSED, STARTING = Health("ready", "200"), Health("refused", "connection refused"), Health("starting", "503")


@pytest.mark.parametrize(
    ("health", "refused_for", "elapsed", "decision"),
    [
        pytest.param(READY, 0, 0, "ready", id="ready"),
        pytest.param(READY, 0, 999, "ready", id="ready-late"),
        pytest.param(REFUSED, 0, 0, "wait", id="refused-once-a-restart-blip"),
        pytest.param(REFUSED, 2.9, 2.9, "wait", id="refused-inside-grace"),
        pytest.param(REFUSED, 3.0, 3.0, "fail", id="refused-past-grace"),
        pytest.param(REFUSED, 0, 600, "fail", id="refused-past-timeout"),
        pytest.param(STARTING, 0, 599, "wait", id="starting-waits-for-the-timeout"),
        pytest.param(STARTING, 0, 600, "fail", id="starting-past-timeout"),
    ],
)
def test_ready_decision(health: Health, refused_for: float, elapsed: float, decision: str) -> None:
    assert ready_decision(health, refused_for, elapsed, timeout_s=600) == decision


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(looks: list[Health], timeout_s: float = 600) -> tuple[list[str], FakeTime, LoadError | None]:
    said: list[str] = []
    fake = FakeTime()
    answers = iter(looks)
    last = looks[-1]
    try:
        wait_until_ready(
            "http://tgi:80",
            timeout_s,
            say=said.append,
            observe=lambda _: next(answers, last),
            clock=fake.clock,
            sleep=fake.sleep,
        )
    except LoadError as exc:
        return said, fake, exc
    return said, fake, None


def test_connection_refused_fails_within_the_grace_with_the_address() -> None:
    _said, fake, error = run([REFUSED])
    assert error is not None and fake.now <= 3.5
    assert str(error).startswith("nothing answers at http://tgi:80 (connection refused); check --endpoint")


def test_a_starting_server_is_waited_for_and_the_wait_is_reported_every_5_seconds() -> None:
    said, fake, error = run([STARTING] * 40 + [READY])
    assert error is None and fake.now == pytest.approx(20)
    assert said[0] == "waiting for http://tgi:80/health (503); 5 s of 600 s"
    assert len(said) == 3  # at 5, 10 and 15 s (ready at 20 s)


def test_a_server_that_never_gets_ready_fails_at_the_timeout_with_its_last_answer() -> None:
    said, _fake, error = run([STARTING], timeout_s=30)
    assert (
        error is not None
        and str(error) == "http://tgi:80 is not ready after 30 s (503); check the URL and that TGI is up"
    )
    assert len(said) == 5


def test_a_refusal_after_a_start_is_a_blip_when_it_clears() -> None:
    _said, _fake, error = run([STARTING, REFUSED, REFUSED, STARTING, READY])
    assert error is None


@pytest.mark.parametrize(
    ("path", "state"),
    [
        pytest.param("", "ready", id="health-200"),
        pytest.param("/slow", "starting", id="health-slowloris-is-starting-not-hung"),
        pytest.param("/down", "starting", id="health-503"),
    ],
)
def test_look_against_a_real_server(path: str, state: str) -> None:
    routes = {
        "/health": lambda h: h.reply(200, b"{}"),
        "/slow/health": lambda h: h.drip(),
        "/down/health": lambda h: h.reply(503, b"loading"),
    }
    with hostile_server(routes) as url:
        assert look(url + path).state == state


def test_look_at_a_closed_port_is_refused() -> None:
    with hostile_server() as url:
        pass  # closed again: nothing listens on that port now
    assert look(url).state == "refused"
