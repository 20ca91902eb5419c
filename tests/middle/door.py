"""The real frontdoor (create_app with its own ControllerClient) on a real TCP port, in front of
a fake controller on the controller's unix socket; the official SDKs as clients."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
from aiohttp import web
from aiohttp.test_utils import TestServer

from common.models import ModelCatalog
from common.paths import StatePaths
from frontdoor.app import create_app, server_options
from frontdoor.config import FrontdoorConfig
from frontdoor.state import AUTH
from tests.middle.fake_controller import FakeController, serve

TOKEN = "middle-tier-token-3b9e1f"


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def sse(self) -> list[str]:
        """The SSE events (blank-line separated), without empty ones."""
        return [event for event in self.body.decode().split("\n\n") if event.strip()]


@dataclass
class Front:
    """The frontdoor's HTTP side, and clients for it."""

    port: int
    config: FrontdoorConfig

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def openai(self, **options: Any) -> openai.AsyncOpenAI:
        settings: dict[str, Any] = {
            "base_url": f"{self.base_url}/v1",
            "api_key": TOKEN,
            "max_retries": 0,
            "timeout": 20,
        }
        return openai.AsyncOpenAI(**{**settings, **options})

    def anthropic(self, **options: Any) -> anthropic.AsyncAnthropic:
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "api_key": TOKEN,
            "max_retries": 0,
            "timeout": 20,
        }
        return anthropic.AsyncAnthropic(**{**settings, **options})

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One plain HTTP exchange with the token (unless `headers` sets Authorization)."""
        sent = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        sent.update(headers or {})
        url, data = self.base_url + path, _payload(body)
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, url, data=data, headers=sent) as response,
        ):
            return Reply(response.status, response.headers.copy(), await response.read())

    async def post_json(self, path: str, body: Any, **headers: str) -> Reply:
        return await self.request("POST", path, json.dumps(body).encode(), headers)


@dataclass
class Door(Front):
    """The frontdoor in front of a fake controller."""

    controller: FakeController
    app: web.Application | None = None

    async def keys_loaded(self, version: int | None = None) -> None:
        """Once the frontdoor's key ring holds the fake's list (`version`: at least that one)."""
        assert self.app is not None
        ring = self.app[AUTH].ring
        wanted = self.controller.key_version if version is None else version
        for _ in range(2000):  # 10 s
            if ring.loaded and ring.version >= wanted:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"the key ring never reached version {wanted}")


def door_config(root: Path, **overrides: Any) -> FrontdoorConfig:
    """The production defaults (FrontdoorConfig.from_env with no settings) but for the token."""
    config = FrontdoorConfig(
        host="127.0.0.1",
        port=0,
        auth_token=TOKEN,
        paths=StatePaths(root),
        models=ModelCatalog(),
        max_body_bytes=20 * 1024 * 1024,
        workers_configured=1,
        stream_commit_ms=15_000,
    )
    return replace(config, **overrides)


async def serve_app(app: web.Application) -> TestServer:
    """The app served in this process as production serves it (app.server_options).

    TestServer drops the keywords it is made with: the runner's options go to start_server,
    which sets handler_cancellation itself."""
    options = server_options(app)
    assert options.pop("handler_cancellation") is True  # what start_server sets anyway
    http = TestServer(app, host="127.0.0.1")
    await http.start_server(**options)
    return http


@contextlib.asynccontextmanager
async def open_door(root: Path, **overrides: Any) -> AsyncIterator[Door]:
    controller = FakeController()
    config = door_config(root, **overrides)
    grpc_server = await serve(controller, config.paths.controller_socket)
    app = create_app(config)
    http = await serve_app(app)
    try:
        assert http.port is not None
        yield Door(http.port, config, controller, app)
    finally:
        await http.close()
        await grpc_server.stop(0)


def _payload(body: bytes | None) -> io.BytesIO | None:
    """Large bodies as a stream (aiohttp warns about big raw bytes)."""
    return None if body is None else io.BytesIO(body)
