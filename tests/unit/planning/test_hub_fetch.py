"""config.json from the Hub is hostile input: capped size, a deadline for the whole transfer, no redirects."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.hostile import gzip_bomb, hostile_server

from quantop.api.spec import ModelSource
from quantop.planning import PlanningError, resolve_architecture, resolve_architecture_async
from quantop.planning.models import MAX_CONFIG_BYTES

GOOD = json.dumps(
    {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 16, "vocab_size": 32000}
).encode()
ROUTES = {
    "/org/good/resolve/main/config.json": lambda h: h.reply(200, GOOD),
    "/org/slowloris/resolve/main/config.json": lambda h: h.drip(),
    "/org/hang/resolve/main/config.json": lambda h: h.hang(),
    "/org/endless/resolve/main/config.json": lambda h: h.endless(),
    "/org/declared-huge/resolve/main/config.json": lambda h: h.declare(10 * 2**30),
    "/org/gzip-bomb/resolve/main/config.json": lambda h: h.reply(200, gzip_bomb(32 * 2**20), Content_Encoding="gzip"),
    "/org/redirect/resolve/main/config.json": lambda h: h.reply(
        302, b"", Location="http://169.254.169.254/latest/meta-data"
    ),
    "/org/deep/resolve/main/config.json": lambda h: h.reply(200, b"[" * 50_000 + b"]" * 50_000),
}


@pytest.fixture(scope="module")
def hub() -> Iterator[str]:
    with hostile_server(ROUTES) as url:
        yield url


#: (model, what the error says, the transfer deadline). Only the slow body is about the deadline and only
#: the hanging one about the read timeout; the others get generous ones, so a busy machine still fails
#: them for their own reason.
CASES = [
    pytest.param("slowloris", "took longer than 1 s", 1.0, id="slowloris"),
    pytest.param("hang", "cannot fetch config.json: ReadTimeout", 60.0, id="hang-past-the-read-timeout"),
    pytest.param("endless", f"larger than {MAX_CONFIG_BYTES // 1024} KiB", 60.0, id="endless"),
    pytest.param("declared-huge", "larger than", 60.0, id="declared-huge"),
    pytest.param("gzip-bomb", "larger than", 60.0, id="gzip-bomb"),
    pytest.param("redirect", "answered HTTP 302", 60.0, id="redirect-to-metadata-not-followed"),
    pytest.param("deep", "not JSON", 60.0, id="deep-nesting"),
]


@pytest.mark.parametrize(("name", "expected", "deadline"), CASES)
def test_hostile_hub_is_one_planning_error(hub: str, name: str, expected: str, deadline: float) -> None:
    with pytest.raises(PlanningError) as err:
        resolve_architecture(
            ModelSource(id=f"org/{name}"), hub_url=hub, timeout=0.5 if name == "hang" else 10.0, deadline_s=deadline
        )
    assert expected in err.value.message and "\n" not in err.value.message


@pytest.mark.parametrize(("name", "expected", "deadline"), CASES)
async def test_hostile_hub_is_one_planning_error_in_the_operator(
    hub: str, name: str, expected: str, deadline: float
) -> None:
    with pytest.raises(PlanningError) as err:
        await resolve_architecture_async(
            ModelSource(id=f"org/{name}"), hub_url=hub, timeout=0.5 if name == "hang" else 10.0, deadline_s=deadline
        )
    assert expected in err.value.message


def test_a_good_config_still_loads(hub: str) -> None:
    info = resolve_architecture(ModelSource(id="org/good"), hub_url=hub)
    assert (info.num_layers, info.num_key_value_heads, info.source) == (16, 16, "config.json")
