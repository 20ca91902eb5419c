"""Secrets are masked value by value, never by rewriting serialised text; and a token too weak to
mask (or to guard a network) is refused at start-up on any bind but loopback.

The monitoring endpoints run in process: the frontdoor app asks the controller's real Admin service
over fake workerds (tests/middle/inprocess.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from common.config import ConfigError
from common.logs import mask_json
from common.models import ModelCatalog
from controller.events.kinds import Completed
from frontdoor.app import create_app
from frontdoor.config import FrontdoorConfig
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle

STRONG = "monitoring-secret-abcdefghijklmnop"
DIGITS = 12345678  # a token of digits only is a substring of numbers in the serialised JSON
Client = TestClient[web.Request, web.Application]


async def serve(token: str) -> AsyncIterator[tuple[Rig, Client]]:
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {"1": "cli", "11": "api"})
        await rig.serve_admin()
        for n in range(12):  # event ids 1..12, worker names and counts full of the digit 1
            data = {"worker": "1", "output_tokens": 11, "input_tokens": DIGITS * 10}
            rig.events.emit(Completed.from_json({**data, "source": f"run {n} by {STRONG}"}))
        config = FrontdoorConfig(
            host="127.0.0.1",
            port=0,
            auth_token=token,
            paths=rig.config.paths,
            models=ModelCatalog(),
            max_body_bytes=1 << 20,
            workers_configured=2,
            stream_commit_ms=15_000,
        )
        try:
            async with TestClient(TestServer(create_app(config))) as http:
                yield rig, http
        finally:
            await rig.stop()


@pytest.fixture(params=["1", "11", "sk", str(DIGITS)])
async def short_token(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Client]]:
    """A loopback deployment may use any token, even one that is a substring of everything."""
    async for _, http in serve(request.param):
        yield request.param, http


@pytest.fixture
async def strong() -> AsyncIterator[Client]:
    async for _, http in serve(STRONG):
        yield http


async def get_text(http: Client, path: str, token: str) -> str:
    response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    return await response.text()


@pytest.mark.parametrize(
    "path", ["/metrics", "/events?limit=100", "/zombies", "/metrics/history?window=1h"]
)
async def test_a_short_token_leaves_the_json_valid_and_whole(
    short_token: tuple[str, Client], path: str
) -> None:
    token, http = short_token
    data = json.loads(await get_text(http, path, token))
    assert "[redacted]" not in json.dumps(data)
    if path.startswith("/events"):
        events = data["events"]
        assert [e["id"] for e in events] == list(range(1, 13))
        assert all(e["data"]["worker"] == "1" and e["data"]["output_tokens"] == 11 for e in events)
        assert all(e["data"]["input_tokens"] == DIGITS * 10 for e in events)
    if path == "/metrics":
        assert sorted(w["name"] for w in data["workers"]) == ["1", "11"]


async def test_a_short_token_leaves_prometheus_valid(short_token: tuple[str, Client]) -> None:
    token, http = short_token
    text = await get_text(http, "/metrics/prometheus", token)
    assert "[redacted]" not in text
    assert list(text_string_to_metric_families(text))


async def test_a_short_token_leaves_the_event_stream_valid(
    short_token: tuple[str, Client],
) -> None:
    token, http = short_token
    response = await http.get("/stream?replay=3", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    frames: list[dict[str, Any]] = []
    while len(frames) < 3:
        line = (await response.content.readline()).decode()
        if line.startswith("data: "):
            frames.append(json.loads(line.removeprefix("data: ")))
    assert [f["id"] for f in frames] == [10, 11, 12]
    assert all(
        f["data"]["output_tokens"] == 11 and f["data"]["input_tokens"] == DIGITS * 10
        for f in frames
    )
    response.close()


async def test_the_token_inside_a_value_is_masked(strong: Client) -> None:
    events = json.loads(await get_text(strong, "/events?limit=100", STRONG))["events"]
    sources = [e["data"]["source"] for e in events][:2]
    assert sources == ["run 0 by [redacted]", "run 1 by [redacted]"]
    assert all(e["data"]["output_tokens"] == 11 for e in events)


def test_mask_json_touches_strings_only() -> None:
    value = {
        "id": 1,
        "ok": True,
        "none": None,
        "ratio": 1.5,
        f"key {STRONG}": [STRONG, "sk-ant-api03-abcdefgh", {"n": 11}],
    }
    assert mask_json(value, ["1", STRONG]) == {
        "id": 1,
        "ok": True,
        "none": None,
        "ratio": 1.5,
        "key [redacted]": ["[redacted]", "sk-ant-[redacted]", {"n": 11}],
    }


# -- weak tokens at start-up ----------------------------------------------------------------------


def config(host: str, token: str) -> FrontdoorConfig:
    return FrontdoorConfig.from_env({"PROXY_HOST": host, "PROXY_AUTH_TOKEN": token})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "proxy.example.com"])
@pytest.mark.parametrize("token", ["1", "local-proxy", "short-token-15c", " " * 20])
def test_a_weak_token_is_refused_on_a_network_bind(host: str, token: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(host, token)
    assert "PROXY_AUTH_TOKEN" in str(info.value)
    assert len(token.strip()) < 8 or token not in str(info.value)  # never echoed


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
@pytest.mark.parametrize("token", ["1", "local-proxy"])
def test_any_token_is_accepted_on_loopback(host: str, token: str) -> None:
    assert config(host, token).auth_token == token


def test_a_strong_token_is_accepted_on_a_network_bind() -> None:
    assert config("0.0.0.0", "x" * 16).auth_token == "x" * 16
