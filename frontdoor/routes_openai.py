"""POST /v1/chat/completions (JSON and SSE) and GET /v1/models."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import pydantic
from aiohttp import web

from common.errors import make_error
from frontdoor.errors import ApiError
from frontdoor.event_feed import EventFeed
from frontdoor.openai_models import ChatCompletionRequest
from frontdoor.responses import CompletionAccumulator
from frontdoor.state import CONFIG, CONTROLLER
from frontdoor.streaming import (
    StreamContext,
    response_headers,
    stream_completion,
    with_response_headers,
)
from frontdoor.translate import to_chat_request
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_PRIORITIES = {"high": pb.PRIORITY_HIGH, "normal": pb.PRIORITY_NORMAL, "low": pb.PRIORITY_LOW}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await _parse_body(request)
    model = request.app[CONFIG].models.resolve(body.model)
    if model is None:
        raise ApiError(
            404,
            f"model {body.model!r} is not served here; GET /v1/models lists the models",
            code="model_not_found",
            param="model",
        )
    request_id = uuid.uuid4().hex
    chat = to_chat_request(body, model, request_id)
    _add_routing_hints(chat, request)
    call = request.app[CONTROLLER].complete(chat)
    feed = EventFeed(call)
    try:
        context = StreamContext(request_id, int(time.time()), body.model, body.include_usage)
        if body.stream:
            return await stream_completion(request, feed, context)
        return await _complete(feed, context)
    finally:
        call.cancel()
        await feed.close()


async def _parse_body(request: web.Request) -> ChatCompletionRequest:
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    if has_lone_surrogate(raw, data):
        raise ApiError(
            400, "request body has a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff)"
        )
    try:
        body = ChatCompletionRequest.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        raise ApiError(400, f"{param}: {first['msg']}", param=param or None) from None
    if body.ignored_fields():
        logger.info("ignoring unsupported fields %s", body.ignored_fields())
    return body


def has_lone_surrogate(raw: bytes, data: object) -> bool:
    """JSON may escape half of a UTF-16 pair; such text cannot be encoded anywhere further on.

    Only a body with a surrogate escape at all is serialised again to find out."""
    if not _SURROGATE_ESCAPE.search(raw):
        return False
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _add_routing_hints(chat: pb.ChatRequest, request: web.Request) -> None:
    headers = request.headers
    chat.source = (
        headers.get("X-Source") or headers.get("X-OpenClaw-Source") or request.remote or "unknown"
    )[:128]
    chat.session_key = headers.get("X-Session-Id", "")[:256]
    priority = headers.get("X-Priority", "normal").lower()
    if priority not in _PRIORITIES:
        raise ApiError(400, "X-Priority must be high, normal or low", param="X-Priority")
    chat.priority = _PRIORITIES[priority]


async def _complete(feed: EventFeed, context: StreamContext) -> web.Response:
    result = CompletionAccumulator(f"chatcmpl-{context.request_id}", context.created, context.model)
    worker = ""
    finished = False
    while (event := await feed.next()) is not None:
        kind = event.WhichOneof("kind")
        if kind == "started":
            worker = event.started.worker
        elif kind == "error":
            error = ApiError.from_event(event.error)
            raise with_response_headers(error, context.request_id, worker)
        finished = finished or kind == "finish"
        result.add(event)
    if not finished:
        lost = make_error(pb.WORKER_CRASHED, "the worker ended without a result")
        raise with_response_headers(ApiError.from_event(lost.error), context.request_id, worker)
    return web.json_response(
        result.response(), headers=response_headers(context.request_id, worker)
    )


def _model_json(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "claude-code-proxy"}


async def list_models(request: web.Request) -> web.Response:
    data = [_model_json(name) for name in request.app[CONFIG].models.listed()]
    return web.json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    """GET /v1/models/{id}: any name a completion would accept, else 404."""
    name = request.match_info["model"]
    if request.app[CONFIG].models.resolve(name) is None:
        raise ApiError(404, f"model {name!r} is not served here", code="model_not_found")
    return web.json_response(_model_json(name))
