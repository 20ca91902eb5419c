"""The key endpoints over the Admin service (the fake controller's keys): made with the secret
shown once, listed without it, changed, revoked; errors in OpenAI's shape; GET /v1/usage for
the bootstrap token lists every key."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.middle.door import Door

pytestmark = pytest.mark.middle


async def test_a_key_is_made_listed_changed_and_revoked(door: Door) -> None:
    body = {
        "name": "colleague",
        "for_another_person": True,
        "policy": {"daily_tokens": 50_000, "models": ["sonnet"], "weight": 2},
    }
    made = await door.post_json("/admin/keys", body)
    assert made.status == 201 and made.headers["Cache-Control"] == "no-store"
    secret = made.json()["secret"]
    key = made.json()["key"]
    assert secret.startswith("sk-ccp-") and len(secret) == 50
    assert key["prefix"] == secret[:11] and key["for_owner"] is False
    assert key["policy"] == {"daily_tokens": 50_000, "weight": 2.0, "models": ["sonnet"]}
    digest = hashlib.sha256(secret.encode()).hexdigest()

    listed = await door.request("GET", "/admin/keys")
    assert [k["name"] for k in listed.json()["keys"]] == ["colleague"]
    assert secret not in listed.body.decode() and digest not in listed.body.decode()

    changed = await door.request(
        "PATCH",
        "/admin/keys/colleague",
        json.dumps({"policy": {"rpm": 30}, "clear": ["models"]}).encode(),
    )
    assert changed.status == 200
    assert changed.json()["key"]["policy"] == {"rpm": 30, "daily_tokens": 50_000, "weight": 2.0}

    await door.keys_loaded()
    chat = {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}
    bearer = f"Bearer {secret}"
    assert (await door.post_json("/v1/chat/completions", chat, Authorization=bearer)).status == 200

    revoked = await door.request("DELETE", f"/admin/keys/{key['id']}")
    assert revoked.status == 200 and revoked.json()["key"]["revoked_at"] > 0
    assert (await door.request("GET", "/admin/keys")).json()["keys"] == []
    everything = await door.request("GET", "/admin/keys?include_revoked=1")
    assert [k["name"] for k in everything.json()["keys"]] == ["colleague"]
    await door.keys_loaded()
    assert (await door.post_json("/v1/chat/completions", chat, Authorization=bearer)).status == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/admin/keys", {"name": "taken"}, 409, None),
        ("POST", "/admin/keys", {"name": "x", "policy": {"rpm": "many"}}, 400, None),
        (
            "POST",
            "/admin/keys",
            {"name": "x", "for_another_person": True, "policy": {"pools": ["cli"]}},
            400,
            None,
        ),
        ("PATCH", "/admin/keys/nobody", {"policy": {"rpm": 1}}, 404, "key_not_found"),
        ("DELETE", "/admin/keys/key_0123456789ab", None, 404, "key_not_found"),
        ("PATCH", "/admin/keys/taken", {"clear": ["secret"]}, 400, None),
    ],
)
async def test_refusals_are_openai_shaped(
    door: Door, method: str, path: str, body: object, status: int, code: str | None
) -> None:
    door.controller.add_key("taken")
    data = None if body is None else json.dumps(body).encode()
    reply = await door.request(method, path, data)
    assert reply.status == status, reply.body
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    if "pools" in json.dumps(body):
        assert "Account terms" in error["message"]


async def test_usage_for_the_bootstrap_token_lists_every_key(door: Door) -> None:
    door.controller.add_key("a")
    door.controller.add_key("b", role="admin", daily_tokens=10)
    reply = await door.request("GET", "/v1/usage")
    assert reply.status == 200
    body = reply.json()
    assert body["object"] == "key_usage_list"
    assert [(k["name"], k["role"]) for k in body["keys"]] == [("a", "client"), ("b", "admin")]
    assert body["keys"][1]["budgets"][0]["limit"] == 10
