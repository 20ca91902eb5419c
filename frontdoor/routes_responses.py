"""POST /v1/responses (the OpenAI Responses API, stateless for now) and GET /v1/responses/{id}.

The same pool as every door: parse, translate to the neutral request, then the shared stream
driver (streaming.stream_events) with the Responses writer, or collect into one response object.
Nothing is stored yet: previous_response_id is a 400 and GET is a 404."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from aiohttp import web

from frontdoor.door import (
    add_routing_hints,
    collect,
    read_openai_body,
    resolve_model,
)
from frontdoor.errors import ApiError
from frontdoor.event_feed import EventFeed
from frontdoor.responses_models import ResponsesRequest
from frontdoor.responses_output import ResponseBuilder, ResponsesSse
from frontdoor.responses_translate import to_chat_request
from frontdoor.state import CONTROLLER
from frontdoor.streaming import response_headers, stream_events

logger = logging.getLogger(__name__)


async def create_response(request: web.Request) -> web.StreamResponse:
    body = await read_openai_body(request, ResponsesRequest)
    model = resolve_model(request, body.model)
    request_id = uuid.uuid4().hex
    chat = to_chat_request(body, model, request_id)
    add_routing_hints(chat, request)
    builder = ResponseBuilder(f"resp_{request_id}", int(time.time()), body.model, echo(body))
    call = request.app[CONTROLLER].complete(chat)
    feed = EventFeed(call)
    try:
        if body.stream:
            return await stream_events(request, feed, request_id, ResponsesSse(builder))
        worker = await collect(feed, request_id, builder.collect)
        return web.json_response(builder.response(), headers=response_headers(request_id, worker))
    finally:
        call.cancel()
        await feed.close()


async def get_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    raise ApiError(
        404,
        f"response {response_id!r} not found: this proxy does not store responses yet",
        code="not_found",
    )


def echo(body: ResponsesRequest) -> dict[str, Any]:
    """The request fields a response object repeats, with OpenAI's defaults."""
    return {
        "instructions": body.instructions,
        "metadata": body.metadata or {},
        "tools": [tool.model_dump(by_alias=True, exclude_none=True) for tool in body.tools or ()],
        "tool_choice": body.tool_choice if body.tool_choice is not None else "auto",
        "parallel_tool_calls": (
            body.parallel_tool_calls if body.parallel_tool_calls is not None else True
        ),
        "temperature": body.temperature,
        "top_p": body.top_p,
        "max_output_tokens": body.max_output_tokens,
        "text": (
            body.text.model_dump(by_alias=True, exclude_none=True)
            if body.text and body.text.format
            else {"format": {"type": "text"}}
        ),
        "reasoning": body.reasoning.model_dump(exclude_none=True) if body.reasoning else None,
        "previous_response_id": None,
        "store": False,
    }
