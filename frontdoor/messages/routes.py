"""POST /v1/messages (JSON and SSE) and POST /v1/messages/count_tokens: the Anthropic door.

The same controller call as chat completions (fair queue, affinity, limits, accounting,
events); errors are Anthropic-shaped (frontdoor.middleware picks the shape by path).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from frontdoor.core.door import (
    add_routing_hints,
    collect,
    completion,
    prepare,
    read_json_object,
    resolve_model,
    validate_in_slices,
)
from frontdoor.core.errors import ApiError
from frontdoor.core.streaming import response_headers, stream_events
from frontdoor.messages.models import AnthropicBase, CountTokensRequest, MessagesRequest
from frontdoor.messages.output import MessageAccumulator, MessageStream
from frontdoor.messages.translate import estimate_input_tokens, param_map, to_chat_request

logger = logging.getLogger(__name__)
Body = TypeVar("Body", bound=AnthropicBase)


async def messages(request: web.Request) -> web.StreamResponse:
    body = await _parse_body(request, MessagesRequest)
    model = resolve_model(request, body.model)
    request_id = uuid.uuid4().hex
    params = param_map()
    chat = await prepare(request, to_chat_request, body, model, request_id, params)
    add_routing_hints(chat, request)
    message_id = f"msg_{request_id}"
    try:
        async with completion(request, chat) as feed:
            if body.stream:
                stream = MessageStream(message_id, body.model)
                return await stream_events(request, feed, request_id, stream)
            result = MessageAccumulator(message_id, body.model)
            worker = await collect(feed, request_id, result.add)
            headers = response_headers(request_id, worker)
            return web.json_response(result.response(), headers=headers)
    except ApiError as exc:
        params.rename(exc)  # a worker's field names in the Messages API's
        raise


async def count_tokens(request: web.Request) -> web.Response:
    """An estimate (about four characters a token), not the upstream's tokenizer."""
    body = await _parse_body(request, CountTokensRequest)
    resolve_model(request, body.model)
    return web.json_response({"input_tokens": estimate_input_tokens(body)})


async def _parse_body(request: web.Request, model: type[Body]) -> Body:
    for header in ("anthropic-version", "anthropic-beta"):
        if header in request.headers:
            logger.debug("%s: %s", header, request.headers[header][:200])
    data = await read_json_object(request)
    checked: tuple[Body, list[str]] = await prepare(request, _validated, model, data)
    body, ignored = checked
    if ignored:
        logger.info("ignoring unsupported fields %s", ignored)
    return body


def _validated(model: type[Body], data: dict[str, object]) -> tuple[Body, list[str]]:
    """The body as `model` and the fields it does not model (a walk of the whole body, so it
    runs where the validation does: off the loop for a large one)."""
    try:
        body: Body = validate_in_slices(model, data)
    except pydantic.ValidationError as exc:
        param, message = _first_error(exc.errors(), data)
        raise ApiError(400, f"{param}: {message}", param=param or None) from None
    return body, body.ignored_fields()


def _first_error(errors: list[Any], data: object) -> tuple[str, str]:
    """The most specific error of a validation: unions report every member that failed, and
    the deepest location is the one that names what is wrong ("messages.0.content.1.text")."""
    error = max(errors, key=lambda e: len(_location(e, data)))
    return ".".join(_location(error, data)), str(error["msg"])


def _location(error: Any, data: object) -> list[str]:
    """The path into the body, without pydantic's union member tags (`str`, `list[...]`, a
    block's `type`): a part is kept when the body has it there, or when it is the missing one."""
    loc = error["loc"]
    path: list[str] = []
    node = data
    for position, part in enumerate(loc):
        after = loc[position + 1] if position + 1 < len(loc) else None
        if isinstance(node, dict) and node.get("type") == part and after in node:
            continue  # a block's `type` tag, even when a field has the same name (`text`)
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif not (error["type"] == "missing" and position == len(loc) - 1):
            continue
        path.append(str(part))
    return path
