"""The Responses and Messages doors through the real frontdoor over gRPC to a fake controller,
with the official `openai` and `anthropic` clients: SSE shapes, errors before and after output,
disconnects, and the request checks that need no worker (moved from the stack tier, where each
ran once per worker kind)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import openai
import pytest

from common.errors import make_error
from protos import common_pb2 as pb
from tests.middle.door import TOKEN, Door
from tests.middle.fake_controller import answer

pytestmark = pytest.mark.middle


def split_text(*pieces: str) -> list[pb.Event]:
    """An answer whose text comes in `pieces`."""
    script = answer("")
    return [*script[:2], *(pb.Event(text=pb.TextDelta(text=p)) for p in pieces), *script[3:]]


# Responses


async def test_responses_stream_shape(door: Door) -> None:
    door.controller.script = split_text("stream ", "door")
    async with door.openai() as client:
        stream = await client.responses.create(model="sonnet", input="hi", stream=True)
        events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == ["stream ", "door"]
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "stream door"
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == 3


async def test_responses_error_after_output_is_a_failed_event(door: Door) -> None:
    door.controller.script = [*answer("partial")[:3], make_error(pb.WORKER_CRASHED, "it crashed")]
    reply = await door.post_json("/v1/responses", {"model": "sonnet", "input": "x", "stream": True})
    assert reply.status == 200
    frames = [json.loads(e.split("data: ", 1)[1]) for e in reply.sse()]
    kinds = [frame["type"] for frame in frames]
    assert kinds[0] == "response.created"
    assert "response.output_text.delta" in kinds and "response.completed" not in kinds
    assert kinds[-1] == "response.failed"
    assert "it crashed" in frames[-1]["response"]["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_responses_error_before_output_is_an_http_error(door: Door, stream: bool) -> None:
    """Moved from tests/integration/test_responses_door.py (an upstream 500 before output)."""
    door.controller.script = [make_error(pb.UPSTREAM_ERROR, "upstream 500", upstream_status=500)]
    async with door.openai() as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.responses.create(model="sonnet", input="SCN:err500", stream=stream)
    assert caught.value.status_code >= 500
    assert caught.value.body is not None and "message" in str(caught.value.body)


async def test_responses_client_disconnect_cancels_the_controller_call(door: Door) -> None:
    hold = asyncio.Event()
    door.controller.script = [*answer("first")[:3], hold]
    async with door.openai() as client:
        stream = await client.responses.create(model="sonnet", input="hi", stream=True)
        first = await stream.__anext__()
        assert first.type == "response.created"
        await stream.close()
        call = await door.controller.one_call()
        await asyncio.wait_for(call.cancelled.wait(), 10)


async def test_responses_refusals_and_errors(door: Door) -> None:
    """Moved from tests/integration/test_responses_door.py."""
    async with door.openai() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(model="sonnet", input="hi", previous_response_id="resp_x")
        assert caught.value.code == "previous_response_not_found"
        with pytest.raises(openai.BadRequestError) as caught:
            nameless: Any = [{"type": "custom"}]
            await client.responses.create(model="sonnet", input="hi", tools=nameless)
        assert caught.value.param == "tools[0].name"
        with pytest.raises(openai.NotFoundError) as missing:
            await client.responses.create(model="no-such-model", input="hi")
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.NotFoundError) as missing:
            await client.responses.retrieve("resp_unknown")
        assert missing.value.code == "not_found"
    assert door.controller.calls == []


async def test_responses_lone_surrogate_is_a_400(door: Door) -> None:
    """Moved from tests/integration/test_responses_door.py."""
    body = b'{"model": "sonnet", "input": "bad \\ud800 text"}'
    reply = await door.request("POST", "/v1/responses", body)
    assert reply.status == 400
    assert "surrogate" in reply.json()["error"]["message"]


# Messages


def user(text: str) -> anthropic.types.MessageParam:
    return {"role": "user", "content": text}


async def test_messages_stream_shape(door: Door) -> None:
    door.controller.script = split_text("stream ", "door")
    async with (
        door.anthropic() as client,
        client.messages.stream(model="sonnet", max_tokens=50, messages=[user("hi")]) as stream,
    ):
        events = [event async for event in stream]
        final = await stream.get_final_message()
    kinds = [e.type for e in events if not e.type.startswith("text")]
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]  # type: ignore[union-attr]
    assert deltas == ["stream ", "door"]
    assert final.content[0].type == "text" and final.content[0].text == "stream door"
    assert final.stop_reason == "end_turn"
    assert final.model == "claude-sonnet-test"
    assert final.usage.output_tokens == 3


async def test_messages_error_after_output_is_an_error_event(door: Door) -> None:
    door.controller.script = [*answer("partial")[:3], make_error(pb.UPSTREAM_OVERLOADED, "busy")]
    body = {"model": "sonnet", "max_tokens": 5, "stream": True, "messages": [user("x")]}
    reply = await door.post_json("/v1/messages", body)
    assert reply.status == 200
    last = reply.sse()[-1]
    assert last.startswith("event: error")
    error = json.loads(last.split("data: ", 1)[1])
    assert error["type"] == "error" and error["error"]["type"] == "overloaded_error"
    assert "message_stop" not in reply.body.decode()


async def test_messages_client_disconnect_cancels_the_controller_call(door: Door) -> None:
    hold = asyncio.Event()
    door.controller.script = [*answer("first")[:3], hold]
    async with door.anthropic() as client:
        stream = await client.messages.create(
            model="sonnet", max_tokens=50, messages=[user("hi")], stream=True
        )
        first = await stream.__anext__()
        assert first.type == "message_start"
        await stream.close()
        call = await door.controller.one_call()
        await asyncio.wait_for(call.cancelled.wait(), 10)


# Moved from tests/integration/test_messages_door.py: the frontdoor answers these by itself.


async def test_messages_wrong_key(door: Door) -> None:
    async with door.anthropic(api_key="wrong") as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(model="sonnet", max_tokens=10, messages=[user("hi")])
    assert caught.value.status_code == 401
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"


async def test_messages_bearer_token_is_accepted(door: Door) -> None:
    door.controller.script = answer("fine")
    body = {"model": "sonnet", "max_tokens": 50, "messages": [user("bearer")]}
    reply = await door.post_json("/v1/messages", body, Authorization=f"Bearer {TOKEN}")
    assert reply.status == 200, reply.body
    assert reply.json()["content"][0]["text"] == "fine"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": "sonnet", "max_tokens": 5, "top_k": 5, "messages": []}, "messages"),
        (
            {"model": "sonnet", "max_tokens": 5, "top_k": 5, "messages": [user("hi")]},
            "top_k",
        ),
        (
            {
                "model": "sonnet",
                "max_tokens": 5,
                "messages": [user("hi")],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "tools.0.type",
        ),
    ],
)
async def test_messages_bad_requests_are_anthropic_shaped(
    door: Door, body: Any, param: str
) -> None:
    reply = await door.post_json("/v1/messages", body)
    assert reply.status == 400
    assert reply.json()["type"] == "error"
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert param in reply.json()["error"]["message"]
    assert door.controller.calls == []


async def test_messages_bad_request_through_the_sdk(door: Door) -> None:
    async with door.anthropic() as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(
                model="sonnet",
                max_tokens=10,
                messages=[user("hi")],
                extra_body={"max_tokens": None},
            )
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "invalid_request_error"


async def test_messages_lone_surrogate_and_unknown_model(door: Door) -> None:
    lone = b'[{"role": "user", "content": "\\ud800"}]'
    raw = b'{"model": "sonnet", "max_tokens": 5, "messages": ' + lone + b"}"
    reply = await door.request("POST", "/v1/messages", raw)
    assert reply.status == 400 and reply.json()["error"]["type"] == "invalid_request_error"
    body = {"model": "gpt-unknown", "max_tokens": 5, "messages": [user("hi")]}
    reply = await door.post_json("/v1/messages", body)
    assert reply.status == 404 and reply.json()["error"]["type"] == "not_found_error"


# A worker's field names in each door's own


async def test_a_workers_refusal_names_the_field_as_each_door_does(door: Door) -> None:
    """The worker names the neutral request's fields; each client sees its own API's names."""
    refusal = make_error(pb.INVALID_REQUEST, "no remote images", param="messages[1].content[1]")
    door.controller.script = [refusal]
    async with door.openai() as client:
        with pytest.raises(openai.BadRequestError) as responses:
            await client.responses.create(
                model="sonnet",
                instructions="be brief",
                input=[{"role": "user", "content": [{"type": "input_text", "text": "look"}]}],
            )
    assert responses.value.param == "input[0].content[1]"
    async with door.anthropic() as client:
        with pytest.raises(anthropic.BadRequestError) as messages:
            await client.messages.create(
                model="sonnet",
                max_tokens=5,
                system="be brief",
                messages=[{"role": "user", "content": "look"}],
            )
    # Anthropic's errors have no param: the message names the field, in its own terms.
    body = messages.value.body
    assert isinstance(body, dict)
    assert body["error"]["message"] == "messages.0.content.1: no remote images"
