"""What every client API door shares: reading the body, routing hints, the model, collecting.

Each door (chat, responses, messages) parses its own request model and translates it; the
steps before and after the translation are the same and live here.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from common.errors import make_error
from frontdoor.auth.identity import identity_of
from frontdoor.core.body import read_body
from frontdoor.core.errors import ApiError
from frontdoor.core.event_feed import EventFeed
from frontdoor.core.limits import message_count, parse_body
from frontdoor.core.models import OpenAIBase
from frontdoor.core.streaming import with_response_headers
from frontdoor.state import CONFIG, CONTROLLER, SHUTDOWN
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
TOKEN_LIMITS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
"""Each door's output token limit: the neutral request carries it as an int32."""
INT32_MAX = 2**31 - 1
_PRIORITIES = {"high": pb.PRIORITY_HIGH, "normal": pb.PRIORITY_NORMAL, "low": pb.PRIORITY_LOW}
COMPLETION_FEED = web.RequestKey("completion_feed", EventFeed)
"""The request's controller call, for the headers its answer carries (middleware.py)."""
BODY_SIZE = web.RequestKey("body_size", int)
"""The request body's length in bytes, once read: `prepare` works off the loop above
OFF_LOOP_BYTES."""
OFF_LOOP_BYTES = 64 * 1024
"""From this size a body is parsed, validated and translated in a worker thread: a body of 20
MiB of tiny messages took seconds of the event loop; below it the work takes milliseconds."""
MESSAGE_LISTS = ("messages", "input")
"""The body fields whose items are the request's messages (each door's), for MAX_MESSAGES."""
Prepared = TypeVar("Prepared")
Model = TypeVar("Model", bound=pydantic.BaseModel)
VALIDATION_SLICE = 2_000
"""Messages validated in one call (validate_in_slices): about 10 ms."""


async def read_json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object; ApiError 400 for anything else (or for a lone surrogate, or an
    output token limit the neutral request cannot carry).

    Every door reads its body here: what client JSON may hold is decided once (common/
    json_limits.py: depth, finite numbers), and how many messages (MAX_MESSAGES). A large body
    is parsed off the event loop (`prepare`)."""
    raw = await read_body(request)
    request[BODY_SIZE] = len(raw)
    return await prepare(request, json_object, raw, request.app[CONFIG].max_messages)


def json_object(raw: bytes, max_messages: int) -> dict[str, object]:
    """read_json_object's checks, pure (and so safe in a worker thread)."""
    data = parse_body(raw, interruptible=len(raw) >= OFF_LOOP_BYTES)
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    if has_lone_surrogate(raw, data):
        raise ApiError(
            400, "request body has a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff)"
        )
    for name in TOKEN_LIMITS:
        value = data.get(name)
        if isinstance(value, int) and value > INT32_MAX:
            raise ApiError(400, f"{name} must be at most {INT32_MAX}", param=name)
    for name in MESSAGE_LISTS:  # counted before any model is built from them
        items = data.get(name)
        if isinstance(items, list):
            message_count(len(items), max_messages, name)
    return data


async def prepare(request: web.Request, work: Callable[..., Prepared], *args: object) -> Prepared:
    """`work(*args)` (parsing, validating, translating this request): in a worker thread when
    the body is large, so the event loop keeps answering (/health, other requests' streams)
    while it runs; inline for the usual small body, where a thread would cost more than it
    saves. `work` must be pure."""
    if request.get(BODY_SIZE, 0) < OFF_LOOP_BYTES:
        return work(*args)
    return await asyncio.to_thread(work, *args)


def parse_json(raw: bytes) -> object:  # a small body on the loop (/kill)
    """Client JSON as Python values; ApiError 400 for what is not JSON (RFC 8259: no NaN or
    Infinity, no number beyond a float's range such as 1e400), nests deeper than
    common.json_limits.MAX_DEPTH, or holds an integer longer than Python reads
    (sys.get_int_max_str_digits, its guard against quadratic parsing); the error names where."""
    return parse_body(raw)


OpenAIBody = TypeVar("OpenAIBody", bound=OpenAIBase)


async def read_openai_body(request: web.Request, model: type[OpenAIBody]) -> OpenAIBody:
    """The body as one of the OpenAI doors' models; a field it fails on is a 400 naming it."""
    data = await read_json_object(request)
    body: OpenAIBody = await prepare(request, validated, model, data)
    if ignored := body.ignored_fields():
        logger.info("ignoring unsupported fields %s", ignored)
    return body


def validated(model: type[OpenAIBody], data: dict[str, object]) -> OpenAIBody:
    try:
        body: OpenAIBody = validate_in_slices(model, data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        raise ApiError(400, f"{param}: {first['msg']}", param=param or None) from None
    return body


def validate_in_slices(model: type[Model], data: dict[str, object]) -> Model:
    """`model.model_validate(data)`, a long message list a slice at a time.

    One validation of a body of 500,000 messages is one call of three seconds that holds the
    GIL, so even in a worker thread the event loop waits for it; slices let it run between
    them. A body that fails is validated again whole, for the error's path into the body."""
    name = next((n for n in MESSAGE_LISTS if _long_list(data.get(n))), None)
    if name is None:
        return model.model_validate(data)
    items = data[name]
    assert isinstance(items, list)
    adapter = _item_list(model, name)
    try:
        body = model.model_validate({**data, name: items[:1]})
        validated_items: list[object] = []
        for start in range(0, len(items), VALIDATION_SLICE):
            validated_items += adapter.validate_python(items[start : start + VALIDATION_SLICE])
    except pydantic.ValidationError:
        return model.model_validate(data)  # raises, naming the place in the whole body
    setattr(body, name, validated_items)
    return body


def _long_list(value: object) -> bool:
    return isinstance(value, list) and len(value) > VALIDATION_SLICE


@functools.cache
def _item_list(model: type[pydantic.BaseModel], name: str) -> pydantic.TypeAdapter[Any]:
    """A validator of the field `name` of `model` alone (its type: a list of messages)."""
    annotation = model.model_fields[name].annotation
    assert annotation is not None
    return pydantic.TypeAdapter(annotation)


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


def resolve_model(request: web.Request, requested: str) -> str:
    """The worker-facing model id; 404 model_not_found for a name this deployment does not serve."""
    model = request.app[CONFIG].models.resolve(requested)
    if model is None:
        raise ApiError(
            404,
            f"model {requested!r} is not served here; GET /v1/models lists the models",
            code="model_not_found",
            param="model",
        )
    return model


def add_routing_hints(chat: pb.ChatRequest, request: web.Request) -> None:
    """The caller's key, then fairness bucket (inside the key), conversation pin and priority
    from the request headers."""
    chat.key_id = identity_of(request).key_id
    # Both read (and so both checked), whichever is used.
    source, legacy = header_text(request, "X-Source"), header_text(request, "X-OpenClaw-Source")
    source = source or legacy
    chat.source = (source or request.remote or "unknown")[:128]
    chat.session_key = header_text(request, "X-Session-Id")[:256]
    priority = (header_text(request, "X-Priority") or "normal").lower()
    if priority not in _PRIORITIES:
        raise ApiError(400, "X-Priority must be high, normal or low", param="X-Priority")
    chat.priority = _PRIORITIES[priority]


def header_text(request: web.Request, name: str) -> str:
    """A request header as text ("" when absent); ApiError 400 naming it when its bytes are not
    UTF-8 (aiohttp passes such bytes on as lone surrogates, which no protobuf string takes)."""
    value = request.headers.get(name, "")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ApiError(400, f"the {name} header must be UTF-8 text", param=name) from None
    return value


async def collect(feed: EventFeed, request_id: str, add: Callable[[pb.Event], None]) -> str:
    """Every event of a non-streaming call into `add`; returns the worker that served it.

    An error event, or an end without a finish, raises ApiError (with the response headers)."""
    worker = ""
    finished = False
    while (event := await feed.next()) is not None:
        kind = event.WhichOneof("kind")
        if kind == "started":
            worker = event.started.worker
            feed.started = event.started
        elif kind == "error":
            raise with_response_headers(ApiError.from_event(event.error), request_id, worker)
        finished = finished or kind == "finish"
        add(event)
    if not finished:
        lost = make_error(pb.WORKER_CRASHED, "the worker ended without a result")
        raise with_response_headers(ApiError.from_event(lost.error), request_id, worker)
    return worker


@asynccontextmanager
async def completion(request: web.Request, chat: pb.ChatRequest) -> AsyncIterator[EventFeed]:
    """The controller call for `chat`, read through a feed; both end with the block (a client
    gone, an error or the answer sent), which cancels the run if it is still going."""
    call = request.app[CONTROLLER].complete(chat)
    feed = EventFeed(call, request.app[SHUTDOWN])
    request[COMPLETION_FEED] = feed
    try:
        yield feed
    finally:
        call.cancel()
        await feed.close()
