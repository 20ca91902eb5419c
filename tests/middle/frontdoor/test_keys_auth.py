"""Keys at the frontdoor: the real app over gRPC to the fake controller (tests/middle/fake_keys.py)
with the official clients. 401 naming the header per door, 403 for a client key on admin paths,
the key reaching the neutral request, revocation on the next request once the watch delivers it,
stored responses private to their key, and the back-off after repeated failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import anthropic
import pytest

from frontdoor.app import create_app
from protos import controller_pb2
from tests.middle.door import Door, Reply, door_config, serve_app
from tests.middle.fake_controller import FakeController, answer, serve

pytestmark = pytest.mark.middle

USER = [{"role": "user", "content": "hi"}]
CHAT = {"model": "sonnet", "messages": USER}
MESSAGES = {"model": "sonnet", "max_tokens": 16, "messages": USER}
RESPONSES = {"model": "sonnet", "input": "hi"}
UNKNOWN = "sk-ccp-" + "z" * 43


async def test_a_client_key_reaches_every_door_as_the_neutral_requests_key_id(door: Door) -> None:
    info, secret = door.controller.add_key("ci")
    await door.keys_loaded()
    async with door.openai(api_key=secret) as client:
        chat = await client.chat.completions.create(
            model="sonnet",
            messages=USER,  # type: ignore[arg-type]
            extra_headers={"X-Source": "linter"},
        )
        await client.responses.create(model="sonnet", input="hi", store=False)
    async with door.anthropic(api_key=secret) as claude:
        await claude.messages.create(model="sonnet", max_tokens=16, messages=USER)  # type: ignore[arg-type]
    assert chat.choices[0].message.content == "hello"
    requests = [call.request for call in door.controller.calls]
    assert [request.key_id for request in requests] == [info.id] * 3
    assert requests[0].source == "linter"  # X-Source: a sub-source inside the key
    assert requests[2].source == "127.0.0.1"


async def test_the_bootstrap_token_has_no_key_id(door: Door) -> None:
    await door.keys_loaded()
    reply = await door.post_json("/v1/chat/completions", CHAT)
    assert reply.status == 200
    assert door.controller.calls[0].request.key_id == ""


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/chat/completions", CHAT), ("/v1/responses", RESPONSES)],
)
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {"Authorization": f"Bearer {UNKNOWN}"},
            "the key in the Authorization header is not valid",
        ),
        (
            {"Authorization": "", "x-api-key": UNKNOWN},
            "the key in the x-api-key header is not valid",
        ),
        ({"Authorization": ""}, "no key: send Authorization: Bearer <key> or x-api-key: <key>"),
    ],
)
async def test_an_unknown_key_is_401_naming_the_header_on_the_openai_doors(
    door: Door, path: str, body: object, headers: dict[str, str], message: str
) -> None:
    await door.keys_loaded()
    reply = await door.post_json(path, body, **headers)
    assert reply.status == 401
    assert reply.json() == {
        "error": {
            "message": message,
            "type": "authentication_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    assert door.controller.calls == []


async def test_an_unknown_key_is_401_in_anthropics_shape_on_the_messages_door(door: Door) -> None:
    await door.keys_loaded()
    reply = await post(door, "/v1/messages", MESSAGES, {"Authorization": "", "x-api-key": UNKNOWN})
    assert reply.status == 401
    assert reply.json() == {
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": "the key in the x-api-key header is not valid",
        },
    }
    async with door.anthropic(api_key=UNKNOWN) as claude:  # this SDK sends a bearer token
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await claude.messages.create(model="sonnet", max_tokens=16, messages=USER)  # type: ignore[arg-type]
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "authentication_error",
            "message": "the key in the Authorization header is not valid",
        },
    }
    assert door.controller.calls == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/metrics"),
        ("GET", "/metrics/prometheus"),
        ("GET", "/metrics/history"),
        ("GET", "/events"),
        ("GET", "/stream"),
        ("GET", "/zombies"),
        ("POST", "/kill"),
        ("POST", "/admin/workers/w1/drain"),
        ("GET", "/admin/keys"),
        ("POST", "/admin/keys"),
        ("DELETE", "/admin/keys/ci"),
    ],
)
async def test_a_client_key_is_403_on_every_admin_path(door: Door, method: str, path: str) -> None:
    _, secret = door.controller.add_key("ci")
    await door.keys_loaded()
    reply = await door.request(method, path, b"{}", {"Authorization": f"Bearer {secret}"})
    assert reply.status == 403
    error = reply.json()["error"]
    assert error["type"] == "permission_error" and error["code"] == "insufficient_role"
    assert error["message"] == f"this key's role is client; {path} needs an admin key"
    assert door.controller.watches == [] and door.controller.key_requests == []


async def test_an_admin_key_may_use_the_admin_paths(door: Door) -> None:
    _, secret = door.controller.add_key("ops", role="admin")
    await door.keys_loaded()
    reply = await door.request("GET", "/admin/keys", headers={"Authorization": f"Bearer {secret}"})
    assert reply.status == 200
    assert [key["name"] for key in reply.json()["keys"]] == ["ops"]
    models = await door.request("GET", "/v1/models", headers={"x-api-key": secret})
    assert models.status == 200


async def test_a_revoked_key_is_refused_on_the_next_request(door: Door) -> None:
    info, secret = door.controller.add_key("ci")
    await door.keys_loaded()
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await door.post_json("/v1/chat/completions", CHAT, **headers)).status == 200
    door.controller.revoke(info.id)
    await door.keys_loaded()  # the watch delivered the change
    reply = await door.post_json("/v1/chat/completions", CHAT, **headers)
    assert reply.status == 401
    assert reply.json()["error"]["message"] == "the key in the Authorization header is not valid"
    assert len(door.controller.calls) == 1


async def test_until_the_watch_delivers_a_change_the_old_list_holds(door: Door) -> None:
    """What "effective on the next request" depends on: the watch's delivery, nothing else."""
    info, secret = door.controller.add_key("ci")
    await door.keys_loaded()
    door.controller.watch_gate = asyncio.Event()  # the controller's list is held back
    door.controller.revoke(info.id)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await door.post_json("/v1/chat/completions", CHAT, **headers)).status == 200
    door.controller.watch_gate.set()
    await door.keys_loaded()
    assert (await door.post_json("/v1/chat/completions", CHAT, **headers)).status == 401


async def test_a_key_made_after_start_works_once_the_watch_delivers_it(door: Door) -> None:
    await door.keys_loaded()
    _, secret = door.controller.add_key("late")
    await door.keys_loaded()
    reply = await post(
        door, "/v1/chat/completions", CHAT, {"Authorization": "", "x-api-key": secret}
    )
    assert reply.status == 200
    assert door.controller.calls[0].request.key_id != ""


async def test_a_stored_response_is_not_found_for_another_key(door: Door) -> None:
    _, alice = door.controller.add_key("alice")
    _, bob = door.controller.add_key("bob")
    await door.keys_loaded()
    door.controller.script = answer("stored")
    made = await door.post_json("/v1/responses", RESPONSES, Authorization=f"Bearer {alice}")
    response_id = made.json()["id"]
    mine = await door.request("GET", f"/v1/responses/{response_id}", headers=_bearer(alice))
    assert mine.status == 200 and mine.json()["id"] == response_id
    theirs = await door.request("GET", f"/v1/responses/{response_id}", headers=_bearer(bob))
    never = await door.request("GET", "/v1/responses/resp_never", headers=_bearer(bob))
    assert theirs.status == never.status == 404
    assert theirs.json()["error"]["code"] == never.json()["error"]["code"] == "not_found"
    follow = {**RESPONSES, "previous_response_id": response_id}
    refused = await door.post_json("/v1/responses", follow, Authorization=f"Bearer {bob}")
    assert refused.status == 400
    assert refused.json()["error"]["code"] == "previous_response_not_found"
    continued = await door.post_json("/v1/responses", follow, Authorization=f"Bearer {alice}")
    assert continued.status == 200


async def test_ten_failures_from_an_address_get_a_429_with_retry_after(door: Door) -> None:
    await door.keys_loaded()
    for _ in range(10):
        reply = await door.post_json("/v1/chat/completions", CHAT, Authorization="Bearer nope")
        assert reply.status == 401
    blocked = await door.post_json("/v1/chat/completions", CHAT)  # the right token, unchecked
    assert blocked.status == 429
    assert blocked.headers["Retry-After"] == "30"
    assert blocked.json()["error"]["code"] == "too_many_failed_attempts"
    assert door.controller.calls == []


async def post(door: Door, path: str, body: object, headers: dict[str, str]) -> Reply:
    return await door.request("POST", path, json.dumps(body).encode(), headers)


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_usage_is_json_for_the_key_itself(door: Door) -> None:
    info, secret = door.controller.add_key("ci", daily_tokens=1000)
    await door.keys_loaded()
    reply = await door.request("GET", "/v1/usage", headers=_bearer(secret))
    assert reply.status == 200
    body = reply.json()
    assert body["object"] == "key_usage"
    assert (body["key"]["id"], body["key"]["name"]) == (info.id, "ci")
    assert body["key"]["policy"] == {"daily_tokens": 1000}
    assert info.secret_sha256 not in json.dumps(body)


async def test_the_key_watch_comes_back_after_the_controller_restarts(state_dir: Path) -> None:
    first = FakeController()
    config = door_config(state_dir)
    grpc_server = await serve(first, config.paths.controller_socket)
    app = create_app(config)
    http = await serve_app(app)
    assert http.port is not None
    door = Door(http.port, config, first, app)
    try:
        await door.keys_loaded()
        await grpc_server.stop(0)  # the controller goes away; the frontdoor keeps its list
        second = FakeController()
        _, secret = second.add_key("after-restart")
        grpc_server = await serve(second, config.paths.controller_socket)
        door.controller = second
        await door.keys_loaded()  # the watch reopened by itself
        reply = await post(door, "/v1/chat/completions", CHAT, _bearer(secret))
        assert reply.status == 200
        assert second.calls[0].request.key_id != ""
    finally:
        await http.close()
        await grpc_server.stop(0)


async def test_health_is_public_and_minimal_and_an_admin_sees_each_workers_cli(door: Door) -> None:
    door.controller.workers = controller_pb2.WorkerList(
        workers=[
            controller_pb2.WorkerInfo(name="w1", mode="cli", state="up", cli_version="2.1.332"),
            controller_pb2.WorkerInfo(name="w2", mode="api", state="down"),
        ]
    )
    _, client_secret = door.controller.add_key("ci")
    _, admin_secret = door.controller.add_key("ops", role="admin")
    await door.keys_loaded()
    no_auth = {"Authorization": ""}
    public = (await door.request("GET", "/health", headers=no_auth)).json()
    assert public["workers"] == {"up": 1, "total": 2}
    for headers in (
        {"Authorization": f"Bearer {client_secret}"},  # a client key: the public answer
        {"Authorization": f"Bearer {UNKNOWN}"},  # a wrong key: no 401 for a probe
    ):
        reply = await door.request("GET", "/health", headers=headers)
        assert reply.status == 200 and reply.json() == public
    detail = [
        {"name": "w1", "mode": "cli", "state": "up", "cliVersion": "2.1.332"},
        {"name": "w2", "mode": "api", "state": "down", "cliVersion": ""},
    ]
    for headers in ({}, {"Authorization": "", "x-api-key": admin_secret}):  # token, admin key
        reply = await door.request("GET", "/health", headers=headers)
        assert reply.json()["workers"] == {"up": 1, "total": 2, "detail": detail}
