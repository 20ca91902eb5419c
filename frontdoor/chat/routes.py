"""POST /v1/chat/completions (JSON and SSE) and GET /v1/models (OpenAI or Anthropic shape)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from aiohttp import web

from common.models import MODEL_PAGE_DEFAULT, anthropic_page
from frontdoor.chat.models import ChatCompletionRequest
from frontdoor.chat.output import CompletionAccumulator
from frontdoor.chat.stream import StreamContext, stream_completion
from frontdoor.chat.translate import to_chat_request
from frontdoor.core.door import (
    add_routing_hints,
    collect,
    completion,
    prepare,
    read_openai_body,
    resolve_model,
)
from frontdoor.core.errors import ApiError
from frontdoor.core.event_feed import EventFeed
from frontdoor.core.streaming import response_headers
from frontdoor.state import CONFIG

logger = logging.getLogger(__name__)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await read_openai_body(request, ChatCompletionRequest)
    model = resolve_model(request, body.model)
    request_id = uuid.uuid4().hex
    chat = await prepare(request, to_chat_request, body, model, request_id)
    add_routing_hints(chat, request)
    context = StreamContext(request_id, int(time.time()), body.model, body.include_usage)
    async with completion(request, chat) as feed:
        if body.stream:
            return await stream_completion(request, feed, context)
        return await _complete(feed, context)


async def _complete(feed: EventFeed, context: StreamContext) -> web.Response:
    result = CompletionAccumulator(f"chatcmpl-{context.request_id}", context.created, context.model)
    worker = await collect(feed, context.request_id, result.add)
    return web.json_response(
        result.response(), headers=response_headers(context.request_id, worker)
    )


def _model_json(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "claude-code-proxy"}


def _anthropic_client(request: web.Request) -> bool:
    """Anthropic SDKs and Claude Code send `anthropic-version`, or their key as `x-api-key`."""
    return "anthropic-version" in request.headers or "x-api-key" in request.headers


async def list_models(request: web.Request) -> web.Response:
    names = request.app[CONFIG].models.listed()
    if not _anthropic_client(request):
        return web.json_response({"object": "list", "data": [_model_json(n) for n in names]})
    query = request.query
    try:
        limit = int(query.get("limit", MODEL_PAGE_DEFAULT))
    except ValueError:
        raise ApiError(400, "limit must be a whole number", param="limit") from None
    after, before = query.get("after_id", ""), query.get("before_id", "")
    return web.json_response(anthropic_page(names, limit, after, before))


async def get_model(request: web.Request) -> web.Response:
    """GET /v1/models/{id}: any name a completion would accept, else 404."""
    name = request.match_info["model"]
    if request.app[CONFIG].models.resolve(name) is None:
        raise ApiError(404, f"model {name!r} is not served here", code="model_not_found")
    if _anthropic_client(request):
        page = anthropic_page([name], 1)
        return web.json_response(page["data"][0])
    return web.json_response(_model_json(name))
