"""Keys end to end in this process: the real frontdoor over the controller's real services
(key book, admission, WatchKeys) and fake workerds. A key made over HTTP works once the watch
delivers it and stops on the next request after its revocation; its usage shows at /v1/usage;
over its rpm it gets the rate-limit headers of the door it used; a stored response is another
key's "not found"; and the openai and anthropic clients each work with their own key."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from controller.server import _build_server
from controller.services.conversations import ConversationsServicer
from frontdoor.app import create_app
from frontdoor.state import AUTH
from tests.middle.chain import HoldingWorker
from tests.middle.door import TOKEN, Front, Reply, door_config, serve_app
from tests.middle.inprocess import Rig

pytestmark = pytest.mark.middle

USER = [{"role": "user", "content": "hi"}]
CHAT = {"model": "sonnet", "messages": USER}


@dataclass
class Stack:
    rig: Rig
    front: Front
    app: web.Application

    async def make_key(self, **body: Any) -> tuple[dict[str, Any], str]:
        """POST /admin/keys with the bootstrap token; the key and its secret, once the
        frontdoor's ring has the controller's list that holds it."""
        made = await self.front.post_json("/admin/keys", body)
        assert made.status == 201, made.body
        await self.ring_caught_up()
        return made.json()["key"], made.json()["secret"]

    async def ring_caught_up(self) -> None:
        ring, book = self.app[AUTH].ring, self.rig.scheduler.keys
        for _ in range(1000):
            if ring.loaded and ring.version >= book.version:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the frontdoor never got the controller's key list")

    async def send(self, path: str, body: Any, secret: str, header: str = "bearer") -> Reply:
        auth = {"Authorization": f"Bearer {secret}"}
        if header == "x-api-key":
            auth = {"Authorization": "", "x-api-key": secret}
        return await self.front.request("POST", path, json.dumps(body).encode(), auth)


@pytest.fixture
async def stack(state_dir: Path) -> AsyncIterator[Stack]:
    """As tests/middle/chain.py assembles it, with the frontdoor app at hand (its key ring)."""
    rig = await Rig.start(state_dir, {"c": "cli", "a": "api"}, worker_class=HoldingWorker)
    rig.events.sinks.append(rig.accounting.observe)
    controller = _build_server(
        rig.config, rig.scheduler, rig.admin, ConversationsServicer(rig.accounting)
    )
    await controller.start()
    ticks = asyncio.get_running_loop().create_task(rig.scheduler.run_ticks())
    config = door_config(state_dir)
    app = create_app(config)
    http = await serve_app(app)
    try:
        assert http.port is not None
        yield Stack(rig, Front(http.port, config), app)
    finally:
        await http.close()
        ticks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticks
        await controller.stop(0)
        await rig.stop()


async def test_a_key_made_over_http_works_shows_its_usage_and_stops_when_revoked(
    stack: Stack,
) -> None:
    key, secret = await stack.make_key(name="ci", policy={"daily_tokens": 1_000_000})
    reply = await stack.send("/v1/chat/completions", CHAT, secret)
    assert reply.status == 200, reply.body
    ran = [run.chat for worker in stack.rig.workers.values() for run in worker.runs]
    assert [chat.key_id for chat in ran] == [key["id"]]

    usage = await stack.front.request("GET", "/v1/usage", headers=_bearer(secret))
    assert usage.status == 200
    body = usage.json()
    assert body["key"]["name"] == "ci" and body["key"]["usage"]["today"]["requests"] == 1
    [budget] = body["budgets"]
    assert budget["period"] == "day" and budget["used"] == 7 and budget["limit"] == 1_000_000

    listed = await stack.front.request("GET", "/admin/keys")
    assert [k["name"] for k in listed.json()["keys"]] == ["ci"]
    assert secret not in listed.body.decode()

    revoked = await stack.front.request("DELETE", "/admin/keys/ci")
    assert revoked.status == 200
    await stack.ring_caught_up()
    again = await stack.send("/v1/chat/completions", CHAT, secret)
    assert again.status == 401
    assert again.json()["error"]["message"] == "the key in the Authorization header is not valid"


LIMIT_HEADERS = {
    "x-ratelimit-": ("limit-requests", "remaining-requests", "reset-requests"),
    "anthropic-ratelimit-": ("requests-limit", "requests-remaining", "requests-reset"),
}


@pytest.mark.parametrize(
    ("path", "body", "header", "prefix"),
    [
        ("/v1/chat/completions", CHAT, "bearer", "x-ratelimit-"),
        ("/v1/messages", {**CHAT, "max_tokens": 16}, "x-api-key", "anthropic-ratelimit-"),
    ],
)
async def test_over_its_rpm_a_key_gets_429_with_its_doors_headers(
    stack: Stack, path: str, body: Any, header: str, prefix: str
) -> None:
    _, secret = await stack.make_key(name="slow", policy={"rpm": 1})
    limit, remaining, reset = (prefix + name for name in LIMIT_HEADERS[prefix])
    first = await stack.send(path, body, secret, header)
    assert first.status == 200, first.body
    shown = {k.lower(): v for k, v in first.headers.items() if k.lower().startswith(prefix)}
    assert set(shown) == {limit, remaining, reset}  # requests only: the key has no tpm
    assert (shown[limit], shown[remaining]) == ("1", "0")
    second = await stack.send(path, body, secret, header)
    assert second.status == 429, second.body
    assert int(second.headers["Retry-After"]) >= 1
    refused = {k.lower(): v for k, v in second.headers.items() if k.lower().startswith(prefix)}
    assert (refused[limit], refused[remaining]) == ("1", "0")
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" if prefix[0] == "a" else r"(\d+m)?[\d.]+m?s"
    assert re.fullmatch(pattern, refused[reset]), refused[reset]
    assert len(stack.rig.workers["c"].runs) + len(stack.rig.workers["a"].runs) == 1


async def test_a_stored_response_is_not_found_for_another_key(stack: Stack) -> None:
    _, alice = await stack.make_key(name="alice")
    _, bob = await stack.make_key(name="bob")
    made = await stack.send("/v1/responses", {"model": "sonnet", "input": "hi"}, alice)
    assert made.status == 200, made.body
    response_id = made.json()["id"]
    mine = await stack.front.request("GET", f"/v1/responses/{response_id}", headers=_bearer(alice))
    theirs = await stack.front.request("GET", f"/v1/responses/{response_id}", headers=_bearer(bob))
    boot = await stack.front.request("GET", f"/v1/responses/{response_id}")
    never = await stack.front.request("GET", "/v1/responses/resp_none", headers=_bearer(bob))
    assert mine.status == 200 and mine.json()["id"] == response_id
    assert theirs.status == boot.status == never.status == 404
    same = theirs.json()["error"]["message"].replace(response_id, "<id>")
    assert same == never.json()["error"]["message"].replace("resp_none", "<id>")


async def test_the_official_clients_each_with_their_own_key(stack: Stack) -> None:
    openai_key, openai_secret = await stack.make_key(name="codex")
    claude_key, claude_secret = await stack.make_key(name="claude-code", role="client")
    async with stack.front.openai(api_key=openai_secret) as client:
        chat = await client.chat.completions.create(model="sonnet", messages=USER)  # type: ignore[arg-type]
    async with stack.front.anthropic(api_key=claude_secret) as claude:
        message = await claude.messages.create(model="sonnet", max_tokens=16, messages=USER)  # type: ignore[arg-type]
    assert chat.choices[0].message.content and message.content
    ran = [run.chat.key_id for worker in stack.rig.workers.values() for run in worker.runs]
    assert sorted(ran) == sorted([openai_key["id"], claude_key["id"]])
    async with stack.front.openai(api_key="sk-ccp-" + "x" * 43) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    async with stack.front.anthropic(api_key=TOKEN) as claude:  # the bootstrap token still works
        unkeyed = await claude.messages.create(model="sonnet", max_tokens=16, messages=USER)  # type: ignore[arg-type]
    assert unkeyed.content
    last = [run.chat for worker in stack.rig.workers.values() for run in worker.runs]
    assert sum(1 for chat in last if chat.key_id == "") == 1


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
