"""POST /v1/responses (the OpenAI Responses API) and GET /v1/responses/{id}.

The same pool as every door: parse, put back the conversation a previous_response_id continues,
translate to the neutral request, then the shared stream driver (core.streaming.stream_events) with
the Responses writer, or collect into one response object; a finished response is stored
(responses/store.py) unless the client said `store: false`."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from aiohttp import web

from frontdoor.auth.identity import identity_of
from frontdoor.core.door import (
    add_routing_hints,
    collect,
    completion,
    prepare,
    read_openai_body,
    resolve_model,
)
from frontdoor.core.errors import ApiError
from frontdoor.core.limits import message_count
from frontdoor.core.streaming import response_headers, stream_events
from frontdoor.responses.models import ResponsesRequest
from frontdoor.responses.output import ResponseBuilder, ResponsesSse
from frontdoor.responses.store import Recorder, RecordingSse, previous_turns, stored_body
from frontdoor.responses.translate import param_map, to_chat_request
from frontdoor.state import CONFIG, CONTROLLER
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)


async def create_response(request: web.Request) -> web.StreamResponse:
    body = await read_openai_body(request, ResponsesRequest)
    model = resolve_model(request, body.model)
    request_id = uuid.uuid4().hex
    controller = request.app[CONTROLLER]
    owner = identity_of(request).key_id
    history = await previous_turns(controller, body, owner)
    _count_messages(request, body, history)
    params = param_map()
    chat = await prepare(request, to_chat_request, body, model, request_id, history, params)
    add_routing_hints(chat, request)
    builder = ResponseBuilder(f"resp_{request_id}", int(time.time()), body.model, echo(body))
    recorder = Recorder(controller, body, chat, history)
    try:
        async with completion(request, chat) as feed:
            if body.stream:
                writer = RecordingSse(ResponsesSse(builder), recorder)
                return await stream_events(request, feed, request_id, writer, writer.before_end)
            worker = await collect(feed, request_id, lambda e: _fold(e, builder, recorder))
            await recorder.store(builder)
            headers = response_headers(request_id, worker)
            return web.json_response(builder.response(), headers=headers)
    except ApiError as exc:
        params.rename(exc)  # a worker's field names in the Responses API's
        raise


def _count_messages(
    request: web.Request, body: ResponsesRequest, history: list[pb.ChatMessage]
) -> None:
    """MAX_MESSAGES counts the stored conversation a previous_response_id continues too."""
    if not history:
        return  # the input alone was counted with the body
    count = len(history) + (len(body.input) if isinstance(body.input, list) else 1)
    counted = f"the stored conversation and input hold {count} messages"
    message_count(count, request.app[CONFIG].max_messages, "previous_response_id", counted)


def _fold(event: pb.Event, builder: ResponseBuilder, recorder: Recorder) -> None:
    builder.collect(event)
    recorder.answer.observe(event)


async def get_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    owner = identity_of(request).key_id
    return web.json_response(await stored_body(request.app[CONTROLLER], response_id, owner))


def echo(body: ResponsesRequest) -> dict[str, Any]:
    """The request fields a response object repeats, with OpenAI's defaults."""
    return {
        "instructions": body.instructions,
        "metadata": body.metadata or {},
        "tools": body.all_tools(),
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
        "previous_response_id": body.previous_response_id,
        "store": body.store is not False,
    }
