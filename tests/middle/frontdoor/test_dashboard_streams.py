"""GET /stream is bounded (issue 21, item 11): past MAX_DASHBOARD_STREAMS live feeds, one more
gets 429 too_many_streams in the OpenAI error shape without asking the controller, and a feed
that closes gives its place back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from frontdoor.config import FrontdoorConfig
from frontdoor.monitoring.routes import STREAMS
from protos import controller_pb2
from tests.middle.chain import until
from tests.middle.door import TOKEN, Door, open_door

pytestmark = pytest.mark.middle
CAP = 2
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SUBSCRIBED = controller_pb2.ProxyEvent(id=0, type="subscribed", data_json="{}")


@pytest.fixture
async def capped(state_dir: Path) -> AsyncIterator[Door]:
    async with open_door(state_dir, max_dashboard_streams=CAP) as door:
        yield door


@contextlib.asynccontextmanager
async def live_feed(
    session: aiohttp.ClientSession, door: Door
) -> AsyncIterator[aiohttp.ClientResponse]:
    """One /stream feed, open once its ": connected" line arrived (the fake controller's watch
    first replays its one event, as the real one first says it is subscribed)."""
    door.controller.events = [SUBSCRIBED]
    url = door.base_url + "/stream?replay=1"
    async with asyncio.timeout(10), session.get(url, headers=AUTH) as response:
        assert response.status == 200
        while (await response.content.readline()).strip() != b": connected":
            pass
        yield response


async def test_one_stream_past_the_cap_gets_429_and_a_closed_one_frees_its_place(
    capped: Door,
) -> None:
    door = capped
    async with aiohttp.ClientSession() as session:
        async with live_feed(session, door), live_feed(session, door):
            assert len(door.controller.watches) == CAP
            refused = await door.request("GET", "/stream?replay=0")
            assert refused.status == 429, refused.body
            assert refused.headers["Retry-After"] == "5"
            error = refused.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert (error["type"], error["code"]) == ("rate_limit_error", "too_many_streams")
            assert f"{CAP} live event streams" in error["message"]
            assert len(door.controller.watches) == CAP  # the controller was never asked
        assert door.app is not None
        slots = door.app[STREAMS]
        await until(lambda: slots.open == 0, "the closed feeds to give their places back")
        async with live_feed(session, door):
            assert len(door.controller.watches) == CAP + 1


async def test_a_bad_query_is_still_a_400_when_the_streams_are_full(capped: Door) -> None:
    door = capped
    async with aiohttp.ClientSession() as session:
        async with live_feed(session, door), live_feed(session, door):
            reply = await door.request("GET", "/stream?replay=x")
            assert reply.status == 400, reply.body
            assert reply.json()["error"]["param"] == "replay"


def test_the_cap_defaults_to_32_and_is_configurable(tmp_path: Path) -> None:
    base = {"STATE_DIR": str(tmp_path)}
    assert FrontdoorConfig.from_env(base).max_dashboard_streams == 32
    configured = FrontdoorConfig.from_env({**base, "MAX_DASHBOARD_STREAMS": "3"})
    assert configured.max_dashboard_streams == 3
