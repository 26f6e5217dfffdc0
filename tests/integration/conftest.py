from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from quantop.sandbox.cluster import Cluster, api_server


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with api_server() as c:
        yield c
