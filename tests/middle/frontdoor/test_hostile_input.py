"""Client input a hostile or broken client sends gets a 4xx in the client API's shape, never a 500,
and leaves no traceback in the log: bytes that are not UTF-8 in the credential headers (401, before
authentication, on any path) and in the routing headers (400), token limits beyond what the
neutral request carries, integers longer than Python parses, lone UTF-16 surrogates in any text.

Raw HTTP against the real app (tests/middle/frontdoor_edge.py): no client library sends
such bytes."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.middle.frontdoor_edge import TOKEN, Edge, Reply, start_edge

pytestmark = pytest.mark.middle

BEARER = (b"Authorization", b"Bearer " + TOKEN.encode())
CHAT: dict[str, Any] = {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES: dict[str, Any] = {**CHAT, "max_tokens": 50}
RESPONSES: dict[str, Any] = {"model": "sonnet", "input": "hi"}
DOORS = {"/v1/chat/completions": CHAT, "/v1/messages": MESSAGES, "/v1/responses": RESPONSES}
TOKEN_LIMIT = {
    "/v1/chat/completions": "max_tokens",
    "/v1/messages": "max_tokens",
    "/v1/responses": "max_output_tokens",
}


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    async for running in start_edge(tmp_path):
        yield running


def assert_quiet_log(edge: Edge) -> None:
    """No traceback, no error record and no credential in anything logged."""
    text = edge.log.text()
    assert "Traceback" not in text, text
    assert not [r for r in edge.log.records if r.exc_info or r.levelno >= logging.ERROR], text
    assert TOKEN not in text


def assert_shape(path: str, reply: Reply, status: int, error_type: str) -> dict[str, Any]:
    """The error in the shape of the door `path` belongs to; returns its inner error object."""
    assert reply.status == status, reply.body
    body = reply.json()
    if path.startswith("/v1/messages"):
        assert body["type"] == "error" and set(body) == {"type", "error"}
        assert body["error"]["type"] == error_type
    else:
        assert set(body) == {"error"}
        assert body["error"]["type"] == error_type
    error: dict[str, Any] = body["error"]
    return error


# -- credential headers that are not UTF-8: 401 before anything else ----------------------------

CREDENTIALS = [
    (b"Authorization", b"Bearer \xff\xfe"),
    (b"Authorization", b"Bearer " + TOKEN.encode() + b"\xc3"),
    (b"Authorization", b"\xe9\xe9 " + TOKEN.encode()),
    (b"x-api-key", b"\xff"),
    (b"x-api-key", TOKEN.encode() + b"\x80"),
]
PATHS = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/responses"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("GET", "/v1/models"),
    ("GET", "/metrics"),
    ("GET", "/events"),
    ("POST", "/kill"),
    ("GET", "/no/such/path"),
]


@pytest.mark.parametrize("header", CREDENTIALS, ids=lambda h: repr(h))
@pytest.mark.parametrize(("method", "path"), PATHS)
async def test_credential_bytes_not_utf8_are_401(
    edge: Edge, header: tuple[bytes, bytes], method: str, path: str
) -> None:
    body = json.dumps(DOORS.get(path, MESSAGES)).encode() if method == "POST" else None
    reply = await edge.request(method, path, [header], body)
    error = assert_shape(path, reply, 401, "authentication_error")
    assert f"the key in the {header[0].decode()} header is not valid" in error["message"]
    assert edge.controller.requests == []
    assert_quiet_log(edge)


async def test_public_paths_ignore_a_credential_that_is_not_utf8(edge: Edge) -> None:
    reply = await edge.request("GET", "/dashboard/proxy", [(b"Authorization", b"Bearer \xff")])
    assert reply.status == 200
    assert_quiet_log(edge)


# -- routing headers that are not UTF-8: 400 naming the header ----------------------------------


@pytest.mark.parametrize(
    "name", [b"X-Source", b"X-OpenClaw-Source", b"X-Session-Id", b"X-Priority"]
)
@pytest.mark.parametrize("path", list(DOORS))
async def test_routing_header_bytes_not_utf8_are_400(edge: Edge, name: bytes, path: str) -> None:
    headers = [BEARER, (name, b"team-\xff\xfe")]
    reply = await edge.request("POST", path, headers, json.dumps(DOORS[path]).encode())
    error = assert_shape(path, reply, 400, "invalid_request_error")
    assert name.decode() in error["message"]
    assert edge.controller.requests == []
    assert_quiet_log(edge)


async def test_a_bad_legacy_source_header_is_400_even_next_to_a_good_one(edge: Edge) -> None:
    headers = [BEARER, (b"X-Source", b"team"), (b"X-OpenClaw-Source", b"team-\xff")]
    reply = await edge.request("POST", "/v1/chat/completions", headers, json.dumps(CHAT).encode())
    error = assert_shape("/v1/chat/completions", reply, 400, "invalid_request_error")
    assert "X-OpenClaw-Source" in error["message"]
    assert edge.controller.requests == []


async def test_utf8_routing_headers_reach_the_controller(edge: Edge) -> None:
    headers = [BEARER, (b"X-Source", "équipe-α".encode()), (b"X-Session-Id", "sess-é".encode())]
    reply = await edge.request("POST", "/v1/chat/completions", headers, json.dumps(CHAT).encode())
    assert reply.status == 200, reply.body
    [request] = edge.controller.requests
    assert (request.source, request.session_key) == ("équipe-α", "sess-é")
    assert_quiet_log(edge)


# -- token limits beyond int32, integers beyond Python's digit limit ----------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("path", "field"),
    [*TOKEN_LIMIT.items(), ("/v1/chat/completions", "max_completion_tokens")],
)
@pytest.mark.parametrize("value", [2**31, 2**63, 10**40])
async def test_token_limit_beyond_int32_is_400(
    edge: Edge, path: str, field: str, value: int, stream: bool
) -> None:
    body = {**DOORS[path], field: value, "stream": stream}
    reply = await edge.request("POST", path, [BEARER], json.dumps(body).encode())
    error = assert_shape(path, reply, 400, "invalid_request_error")
    assert field in error["message"]
    assert edge.controller.requests == []
    assert_quiet_log(edge)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_largest_int32_token_limit_is_accepted(edge: Edge, path: str) -> None:
    body = {**DOORS[path], TOKEN_LIMIT[path]: 2**31 - 1}
    reply = await edge.request("POST", path, [BEARER], json.dumps(body).encode())
    assert reply.status == 200, reply.body
    [request] = edge.controller.requests
    assert request.max_tokens == 2**31 - 1


HUGE = "9" * 4301


@pytest.mark.parametrize(
    "where",
    [
        lambda huge: {"max_tokens": huge},
        lambda huge: {"temperature": huge},
        lambda huge: {"unknown_field": [1, {"deep": huge}]},
        lambda huge: {"metadata": {"n": huge}},
    ],
    ids=["max_tokens", "temperature", "nested_unknown", "metadata"],
)
@pytest.mark.parametrize("path", [*DOORS, "/v1/messages/count_tokens"])
async def test_integer_of_more_than_4300_digits_is_400(edge: Edge, path: str, where: Any) -> None:
    base = json.dumps({**DOORS.get(path, MESSAGES), **where(0)})
    raw = base.replace(": 0", ": " + HUGE).encode()
    assert HUGE.encode() in raw
    reply = await edge.request("POST", path, [BEARER], raw)
    error = assert_shape(path, reply, 400, "invalid_request_error")
    assert "digits" in error["message"]
    assert edge.controller.requests == []
    assert_quiet_log(edge)


async def test_kill_with_an_integer_of_more_than_4300_digits_is_400(edge: Edge) -> None:
    reply = await edge.request("POST", "/kill", [BEARER], b'{"pid": ' + HUGE.encode() + b"}")
    assert_shape("/kill", reply, 400, "invalid_request_error")
    assert_quiet_log(edge)


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
async def test_non_json_constants_are_400(edge: Edge, constant: bytes) -> None:
    """Python reads them, no other JSON parser does: they would fail upstream, not here."""
    schema = {"type": "object", "properties": {"x": {"type": "number", "maximum": 0}}}
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    raw = json.dumps({**CHAT, "tools": [tool]}).encode().replace(b": 0", b": " + constant)
    assert constant in raw
    reply = await edge.request("POST", "/v1/chat/completions", [BEARER], raw)
    assert_shape("/v1/chat/completions", reply, 400, "invalid_request_error")
    assert edge.controller.requests == []
    assert_quiet_log(edge)


# -- lone UTF-16 surrogates in every text field, streamed or not --------------------------------

LONE = ["\ud800", "\udfff", "\udc00\ud800"]  # the high half, the low half, a reversed pair
TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "object"}},
}
CALL: dict[str, Any] = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "f", "arguments": "{}"},
}


def chat(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "sonnet", "messages": messages, **extra}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def with_call(call: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        user("hi"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "ok"},
    ]


def image(url: str) -> dict[str, Any]:
    return user([{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": url}}])


CHAT_FIELDS = {
    "user content": lambda s: chat([user(s)]),
    "system content": lambda s: chat([{"role": "system", "content": s}, user("hi")]),
    "developer content": lambda s: chat([{"role": "developer", "content": s}, user("hi")]),
    "assistant content": lambda s: chat(
        [user("a"), {"role": "assistant", "content": s}, user("b")]
    ),
    "tool content": lambda s: chat(
        [
            user("hi"),
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": s},
        ]
    ),
    "text part": lambda s: chat([user([{"type": "text", "text": s}])]),
    "system text part": lambda s: chat(
        [{"role": "system", "content": [{"type": "text", "text": s}]}, user("hi")]
    ),
    "name": lambda s: chat([{**user("hi"), "name": s}]),
    "stop string": lambda s: chat([user("hi")], stop=s),
    "stop list": lambda s: chat([user("hi")], stop=["x", s]),
    "tool call id": lambda s: chat(with_call({**CALL, "id": s})),
    "tool call name": lambda s: chat(
        with_call({**CALL, "function": {"name": s, "arguments": "{}"}})
    ),
    "tool call arguments": lambda s: chat(
        with_call({**CALL, "function": {"name": "f", "arguments": '{"a": "' + s + '"}'}})
    ),
    "tool_call_id": lambda s: chat(
        [
            user("hi"),
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": s, "content": "ok"},
        ]
    ),
    "tool description": lambda s: chat(
        [user("hi")], tools=[{**TOOL, "function": {**TOOL["function"], "description": s}}]
    ),
    "tool_choice name": lambda s: chat(
        [user("hi")], tools=[TOOL], tool_choice={"type": "function", "function": {"name": s}}
    ),
    "http image url": lambda s: chat([image("http://example.com/" + s + ".png")]),
    "https image url": lambda s: chat([image("https://example.com/a.png?q=" + s)]),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("lone", LONE, ids=["high", "low", "reversed"])
@pytest.mark.parametrize("field", list(CHAT_FIELDS))
async def test_lone_surrogate_in_any_chat_field_is_400(
    edge: Edge, field: str, lone: str, stream: bool
) -> None:
    body = {**CHAT_FIELDS[field](lone), "stream": stream}
    raw = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as a \\u escape
    reply = await edge.request("POST", "/v1/chat/completions", [BEARER], raw)
    error = assert_shape("/v1/chat/completions", reply, 400, "invalid_request_error")
    assert "surrogate" in error["message"]
    assert edge.controller.requests == []
    assert_quiet_log(edge)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path", list(DOORS))
async def test_lone_surrogate_on_every_door_is_400(edge: Edge, path: str, stream: bool) -> None:
    body = {**DOORS[path], "stream": stream}
    text = json.dumps(body).replace('"hi"', '"h\\udfffi"')
    assert "udfff" in text
    reply = await edge.request("POST", path, [BEARER], text.encode())
    error = assert_shape(path, reply, 400, "invalid_request_error")
    assert "surrogate" in error["message"]
    assert_quiet_log(edge)
