"""Pieces of the neutral ChatRequest that more than one door builds the same way.

Image URLs, OpenAI's reasoning_effort, sampling settings and tool_choice (both OpenAI doors), and
`cache_control` breakpoints (the Messages door, and chat content parts OpenRouter-style).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

import pydantic

from common.images import unsupported_image_type
from frontdoor.core.errors import ApiError
from frontdoor.core.models import CacheControl
from protos import common_pb2 as pb

_DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.*)$", re.DOTALL | re.IGNORECASE)
# OpenAI's reasoning_effort -> the neutral effort (common/reasoning.py); minimal is the least
# thinking Claude does, so low.
REASONING_EFFORTS = {
    "none": "none",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
EMPTY_IMAGE = "the image is empty: an image needs data (the Anthropic API takes no empty one)"
TOOL_CHOICES = {
    "auto": pb.TOOL_CHOICE_AUTO,
    "none": pb.TOOL_CHOICE_NONE,
    "required": pb.TOOL_CHOICE_REQUIRED,
}


def reasoning_effort(effort: str | None, param: str = "reasoning_effort") -> str:
    """The neutral effort for an OpenAI reasoning effort (named `param` in the request); ""
    when not given."""
    if effort is None:
        return ""
    if effort not in REASONING_EFFORTS:
        allowed = ", ".join(REASONING_EFFORTS)
        raise ApiError(400, f"{param} must be one of {allowed}", param=param)
    return REASONING_EFFORTS[effort]


def image_block(url: str, param: str) -> pb.ImageBlock:
    """An image URL (a data: URL, or http(s) when remote images are allowed) as a block."""
    match = _DATA_URL.match(url)
    if match:
        try:
            data = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "image data URL is not valid base64", param=param) from None
        if not data:
            raise ApiError(400, EMPTY_IMAGE, param=param)
        if (why := unsupported_image_type(match.group(1))) is not None:
            raise ApiError(400, why, param=param)
        return pb.ImageBlock(media_type=match.group(1).lower(), data=data)
    if url.startswith(("http://", "https://")):
        return pb.ImageBlock(url=url)
    raise ApiError(400, "image_url must be a data: URL or an http(s) URL", param=param)


def user_images_only(blocks: Sequence[pb.ContentBlock], role: str, param: str) -> None:
    """Images go in user turns only (as the Anthropic API takes them): one rule at the door for
    the OpenAI doors' system, developer and assistant messages, so both worker kinds agree.
    `param` names the message's content list."""
    if role == "user":
        return
    for n, block in enumerate(blocks):
        if block.HasField("image"):
            raise ApiError(
                400,
                f"images go in user messages only (as the Anthropic API takes them), not in a "
                f"{role} message",
                param=f"{param}[{n}]",
            )


def set_sampling(
    request: pb.ChatRequest,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    parallel_tool_calls: bool | None,
) -> None:
    """The optional settings both OpenAI doors carry, set only when the client gave them."""
    if max_tokens is not None:
        request.max_tokens = max_tokens
    if temperature is not None:
        request.temperature = temperature
    if top_p is not None:
        request.top_p = top_p
    if parallel_tool_calls is not None:
        request.parallel_tool_calls = parallel_tool_calls


def set_tool_choice(request: pb.ChatRequest, choice: object, name: object, wrong: str) -> None:
    """An OpenAI tool_choice: auto, none, required, or the function `name` (else `wrong`)."""
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise ApiError(400, f"unknown tool_choice {choice!r}", param="tool_choice")
        request.tool_choice.mode = TOOL_CHOICES[choice]
        return
    if not isinstance(name, str) or not name:
        raise ApiError(400, wrong, param="tool_choice")
    request.tool_choice.mode = pb.TOOL_CHOICE_NAMED
    request.tool_choice.name = name


def cache_control(cache: CacheControl) -> pb.CacheControl:
    return pb.CacheControl(ttl=cache.ttl or "")


def cache_breakpoint(raw: object, param: str) -> pb.CacheControl:
    """A `cache_control` object another door's client sent (OpenRouter-style content parts):
    Anthropic's shape, or a 400 naming the field."""
    try:
        cache = CacheControl.model_validate(raw)
    except pydantic.ValidationError:
        raise ApiError(
            400, 'cache_control must be {"type": "ephemeral"}, with ttl "5m" or "1h"', param=param
        ) from None
    return cache_control(cache)
