"""Keys through the real stack, made and revoked with the key tool as a user runs it.

One stack: a `cli` worker (the fake CLI: only where a request lands matters here) and an `api`
worker on the mock upstream, `MAX_CONCURRENT=1` so requests of two keys wait together. The
official `openai` and `anthropic` clients and the Codex CLI each use a key of their own; a key
revoked between two requests stops at once; a spent budget refuses the next request with
`insufficient_quota`; a model or pool the key may not use is a 403 naming its policy; a key for
another person is never served by a subscription (`cli`) worker; weights 1 and 2 under load get
turns 1 to 2 in the event log; a stored response is another key's "not found"; keys and usage
survive `supervisorctl restart controller`; 1,000 keys authenticate from memory.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import grpc
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from protos import controller_pb2_grpc, keys_pb2
from tests.integration.test_codex_cli import codex_exec
from tests.mock_upstream import MockUpstream
from tests.stack import FAKE_CLAUDE, REPO, TOKEN, Stack, wait_until

pytestmark = pytest.mark.stack
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def stack(upstream: MockUpstream) -> Iterator[Stack]:
    workers = [
        {"name": "c", "mode": "cli", "bin": str(FAKE_CLAUDE), "token": "sk-ant-oat01-keys"},
        {"name": "a", "mode": "api", "api_key": "sk-ant-api03-keys"},
    ]
    settings = {
        "WORKERS": json.dumps(workers),
        "ANTHROPIC_BASE_URL": upstream.base_url,
        "MAX_CONCURRENT": "1",
    }
    started = Stack(settings).start()
    yield started
    started.stop()


def keytool(stack: Stack, *args: str) -> str:
    """`python -m controller.keys ARGS`, as the README tells a user to run it."""
    done = subprocess.run(
        [sys.executable, "-m", "controller.keys", *args],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "STATE_DIR": str(stack.state_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def make_key(stack: Stack, name: str, *flags: str) -> str:
    """A new key's secret, once the frontdoor accepts it."""
    printed = keytool(stack, "create", name, *flags)
    secret = next(word for word in printed.split() if word.startswith("sk-ccp-"))
    wait_until(lambda: status_with(stack, secret) == 200, 10, f"the frontdoor knows {name}")
    return secret


def status_with(stack: Stack, secret: str) -> int:
    status, _, _ = stack.request("GET", "/v1/models", headers={"Authorization": f"Bearer {secret}"})
    return status


def chat(stack: Stack, secret: str, text: str = "hello", model: str = "sonnet") -> Any:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
    status, headers, raw = stack.request(
        "POST", "/v1/chat/completions", body.encode(), {"Authorization": f"Bearer {secret}"}
    )
    return status, headers, json.loads(raw)


def test_each_client_uses_its_own_key(stack: Stack, tmp_path: Path) -> None:
    python_key = make_key(stack, "openai-python", "--pools", "api")
    anthropic_key = make_key(stack, "anthropic-sdk", "--pools", "api")
    codex_key = make_key(stack, "codex", "--pools", "api")

    answer = stack.client(api_key=python_key).chat.completions.create(model="sonnet", messages=USER)
    assert answer.choices[0].message.content
    with anthropic.Anthropic(base_url=stack.base_url, api_key=anthropic_key) as client:
        message = client.messages.create(
            model="sonnet", max_tokens=64, messages=[{"role": "user", "content": "hello"}]
        )
    assert message.content[0].type == "text"
    run = codex_exec(stack, tmp_path, "say hello", token=codex_key)
    assert run.last_message.strip()

    shown = keytool(stack, "list")
    for name in ("openai-python", "anthropic-sdk", "codex"):
        line = next(line for line in shown.splitlines() if line.startswith(name))
        assert "today: 0 requests" not in line, shown  # each key's own requests counted to it
    report = json.loads(stack.request("GET", "/v1/usage", headers=bearer(python_key))[2])
    assert report["key"]["name"] == "openai-python"
    assert report["key"]["usage"]["today"]["requests"] == 1
    assert python_key not in stack.logs()


def test_a_revoked_key_stops_on_the_next_request(stack: Stack) -> None:
    secret = make_key(stack, "revoked-soon")
    assert chat(stack, secret)[0] == 200

    keytool(stack, "revoke", "revoked-soon")
    wait_until(lambda: status_with(stack, secret) == 401, 5, "the revocation reached the door")

    with pytest.raises(openai.AuthenticationError) as refused:
        stack.client(api_key=secret).chat.completions.create(model="sonnet", messages=USER)
    assert "Authorization header" in str(refused.value)


def test_a_spent_budget_refuses_the_next_turn_until_it_renews(stack: Stack) -> None:
    secret = make_key(stack, "small-budget", "--daily-tokens", "10", "--pools", "api")
    first = stack.client(api_key=secret).chat.completions.create(model="sonnet", messages=USER)
    assert first.usage is not None and first.usage.total_tokens > 10  # this turn finished

    with pytest.raises(openai.RateLimitError) as refused:
        stack.client(api_key=secret).chat.completions.create(model="sonnet", messages=USER)
    assert refused.value.code == "insufficient_quota"
    assert "daily" in refused.value.message and "renews" in refused.value.message
    assert int(refused.value.response.headers["retry-after"]) > 0


def test_a_model_or_pool_the_key_may_not_use_is_refused_naming_its_policy(stack: Stack) -> None:
    haiku_only = make_key(stack, "haiku-only", "--models", "haiku")
    status, _, body = chat(stack, haiku_only, model="sonnet")
    assert status == 403
    assert "haiku" in body["error"]["message"] and "sonnet" in body["error"]["message"]
    assert chat(stack, haiku_only, model="haiku")[0] == 200


def test_a_key_for_another_person_is_never_served_by_a_subscription_worker(stack: Stack) -> None:
    secret = make_key(stack, "colleague", "--for-another-person")
    workers = {chat(stack, secret, f"colleague {n}")[1]["X-Proxy-Worker"] for n in range(6)}
    assert workers == {"a"}
    policy = next(
        line for line in keytool(stack, "show", "colleague").splitlines() if "policy" in line
    )
    assert policy.strip().endswith("pools api"), policy


def test_weights_one_and_two_share_the_queue_one_to_two(stack: Stack) -> None:
    light = make_key(stack, "light", "--weight", "1", "--pools", "api")
    heavy = make_key(stack, "heavy", "--weight", "2", "--pools", "api")
    blocker = make_key(stack, "blocker", "--pools", "api")
    since = max((e["id"] for e in stack.events_with_ids()), default=0)
    with concurrent.futures.ThreadPoolExecutor(13) as pool:
        held = pool.submit(chat, stack, blocker, "SCN:slow:8 hold the only slot")
        wait_until(lambda: bool(started_since(stack, since)), 10, "the blocker started")
        sent = [pool.submit(chat, stack, key, "weighed") for key in [light, heavy] * 6]
        wait_until(lambda: queued_since(stack, since) >= 12, 20, "twelve requests queued")
        assert all(f.result()[0] == 200 for f in [held, *sent])
    names = key_names(stack)
    order = "".join(
        names[e["key_id"]][0] for e in started_since(stack, since) if e["key_id"] in names
    )
    both_waiting = order.replace("b", "")[:9]
    # While both wait, every three turns are one of light and two of heavy (who goes first
    # depends on which request reached the queue first).
    assert sorted(both_waiting[i : i + 3] for i in (0, 3, 6)) == [both_waiting[:3]] * 3
    assert sorted(both_waiting[:3]) == ["h", "h", "l"], order


def queued_since(stack: Stack, since: int) -> int:
    return sum(1 for e in stack.events_with_ids("queued") if e["id"] > since)


def started_since(stack: Stack, since: int) -> list[dict[str, Any]]:
    requests = {e["request_id"]: e for e in stack.events_with_ids("request") if e["id"] > since}
    return [
        {**e, "key_id": requests[e["request_id"]]["key_id"]}
        for e in stack.events_with_ids("started")
        if e["id"] > since and e["request_id"] in requests
    ]


def key_names(stack: Stack) -> dict[str, str]:
    with grpc.insecure_channel(f"unix:{stack.state_dir / 'controller.sock'}") as channel:
        keys = controller_pb2_grpc.AdminStub(channel).ListKeys(keys_pb2.ListKeysRequest())
    return {key.id: key.name for key in keys.keys}


def test_a_stored_response_is_another_keys_not_found(stack: Stack) -> None:
    owner = make_key(stack, "owner")
    other = make_key(stack, "other")
    made = stack.client(api_key=owner).responses.create(model="sonnet", input="remember 7")
    assert stack.client(api_key=owner).responses.retrieve(made.id).id == made.id

    with pytest.raises(openai.NotFoundError) as unseen:
        stack.client(api_key=other).responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError) as unknown:
        stack.client(api_key=other).responses.retrieve("resp_" + "0" * 24)
    assert unseen.value.message.replace(made.id, "ID") == unknown.value.message.replace(
        "resp_" + "0" * 24, "ID"
    )
    with pytest.raises(openai.BadRequestError) as refused:
        stack.client(api_key=other).responses.create(
            model="sonnet", input="and?", previous_response_id=made.id
        )
    assert refused.value.code == "previous_response_not_found"


def test_keys_and_usage_survive_a_controller_restart(stack: Stack) -> None:
    secret = make_key(stack, "durable", "--daily-tokens", "100000", "--pools", "api")
    assert chat(stack, secret)[0] == 200
    before = json.loads(stack.request("GET", "/v1/usage", headers=bearer(secret))[2])["key"]

    stack.supervisorctl("restart", "controller")
    wait_until(lambda: status_with(stack, secret) == 200, 30, "the key works again")

    assert chat(stack, secret)[0] == 200
    after = json.loads(stack.request("GET", "/v1/usage", headers=bearer(secret))[2])["key"]
    today, earlier = after["usage"]["today"], before["usage"]["today"]
    assert today["requests"] == earlier["requests"] + 1
    assert today["output_tokens"] > earlier["output_tokens"]


def test_a_thousand_keys_authenticate_from_memory(stack: Stack) -> None:
    with grpc.insecure_channel(f"unix:{stack.state_dir / 'controller.sock'}") as channel:
        admin = controller_pb2_grpc.AdminStub(channel)
        secrets = [
            admin.CreateKey(keys_pb2.CreateKeyRequest(name=f"many-{n:04d}"), timeout=10).secret
            for n in range(1000)
        ]
    last = secrets[-1]
    wait_until(lambda: status_with(stack, last) == 200, 20, "the thousandth key works")
    assert all(status_with(stack, secret) == 200 for secret in secrets[::97])
    status, metrics = stack.get("/metrics")
    assert status == 200 and "keys" in metrics
    assert status_with(stack, TOKEN) == 200  # the bootstrap admin token keeps working


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
