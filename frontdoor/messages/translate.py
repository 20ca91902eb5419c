"""Pure translation: an Anthropic Messages API request -> the neutral ChatRequest.

system -> ROLE_SYSTEM messages (one per system block); user and assistant blocks ->
ContentBlocks (a user turn's tool_result blocks become ROLE_TOOL messages, in order, as the
workers expect results); an assistant turn's thinking blocks go on with their signatures and its
redacted_thinking blocks with their opaque data, in order (thinking in other turns is dropped).
`cache_control` on system blocks, content blocks and tools becomes the block's (or tool's)
neutral CacheControl. `thinking` and `output_config.effort` become the neutral reasoning effort
(`reasoning_effort` below).
"""

from __future__ import annotations

import base64
import binascii
import json

from common.images import unsupported_image_type
from frontdoor.core.errors import ApiError
from frontdoor.core.limits import ANTHROPIC_TOOL_NAME, tool_name
from frontdoor.core.neutral_request import EMPTY_IMAGE, cache_control
from frontdoor.core.params import ParamMap
from frontdoor.messages.models import (
    CountTokensRequest,
    ImageBlock,
    Message,
    MessagesRequest,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from protos import common_pb2 as pb

_ROLES = {"user": pb.ROLE_USER, "assistant": pb.ROLE_ASSISTANT, "system": pb.ROLE_SYSTEM}
_TOOL_CHOICES = {
    "auto": pb.TOOL_CHOICE_AUTO,
    "any": pb.TOOL_CHOICE_REQUIRED,
    "tool": pb.TOOL_CHOICE_NAMED,
    "none": pb.TOOL_CHOICE_NONE,
}
# thinking {"type": "enabled"}: the smallest budget_tokens each effort level stands for.
BUDGET_LEVELS = ((16_384, "high"), (4_096, "medium"), (0, "low"))
ADAPTIVE_DEFAULT = "high"  # adaptive thinking without output_config.effort: the API's default
IMAGE_TOKEN_ESTIMATE = 1600  # what Anthropic bills for an image of about 1.15 megapixels


def param_map() -> ParamMap:
    """The Messages API's names for the neutral request's fields (frontdoor/core/params.py)."""
    fields = {
        "reasoning_effort": "thinking",
        "max_tokens": "max_tokens",
        "stop": "stop_sequences",
        "response_format": "output_config.format",
        "response_format.json_schema": "output_config.format.schema",
    }
    return ParamMap(lambda n: f"messages.{n}", fields, dotted=True)


def to_chat_request(
    body: MessagesRequest, model: str, request_id: str, params: ParamMap | None = None
) -> pb.ChatRequest:
    """Validate what pydantic cannot and build the neutral request; `params` learns where each
    neutral message came from."""
    params = params if params is not None else param_map()
    if body.top_k is not None:
        raise ApiError(400, "top_k is not supported by this proxy; leave it unset", param="top_k")
    request = pb.ChatRequest(
        request_id=request_id,
        model=model,
        stream=body.stream,
        max_tokens=body.max_tokens,
        stop=body.stop_sequences or [],
        user=(body.metadata.user_id or "") if body.metadata else "",
    )
    request.messages.extend(_system(body))
    params.note("system", len(request.messages))
    for index, message in enumerate(body.messages):
        converted = _messages(message, f"messages.{index}")
        request.messages.extend(converted)
        params.note(index, len(converted))
    if body.temperature is not None:
        request.temperature = body.temperature
    if body.top_p is not None:
        request.top_p = body.top_p
    _add_tools(request, body)
    request.reasoning_effort = reasoning_effort(body)
    if body.thinking is not None and body.thinking.display:
        request.thinking_display = body.thinking.display
    _add_output_format(request, body)
    return request


def _add_output_format(request: pb.ChatRequest, body: CountTokensRequest) -> None:
    """`output_config.format` (json_schema): the structured-output path of response_format."""
    fmt = body.output_config.format if body.output_config else None
    if fmt is None:
        return
    if not fmt.schema_:
        raise ApiError(400, "a json_schema format needs a schema", param="output_config.format")
    request.response_format = pb.RESPONSE_FORMAT_JSON_SCHEMA
    request.json_schema = json.dumps(fmt.schema_)


def reasoning_effort(body: CountTokensRequest) -> str:
    """The neutral effort: `disabled` -> none; `enabled` -> a level by budget_tokens (under 4096
    low, under 16384 medium, else high); `adaptive` -> output_config.effort, else high;
    output_config.effort alone -> that level; neither -> "" (the worker's default)."""
    effort = body.output_config.effort if body.output_config else None
    thinking = body.thinking
    if thinking is None:
        return effort or ""
    if thinking.type == "disabled":
        return "none"
    if thinking.type == "adaptive":
        return effort or ADAPTIVE_DEFAULT
    if thinking.budget_tokens is None:
        raise ApiError(
            400, "thinking of type enabled needs budget_tokens", param="thinking.budget_tokens"
        )
    if effort:
        return effort
    return next(level for floor, level in BUDGET_LEVELS if thinking.budget_tokens >= floor)


def _system(body: CountTokensRequest) -> list[pb.ChatMessage]:
    """One ROLE_SYSTEM message per non-empty system block (the workers join them with a blank
    line), each block with its cache breakpoint."""
    if body.system is None:
        return []
    blocks = (
        [TextBlock(type="text", text=body.system)] if isinstance(body.system, str) else body.system
    )
    return [
        pb.ChatMessage(role=pb.ROLE_SYSTEM, content=[_with_cache(pb.ContentBlock(text=b.text), b)])
        for b in blocks
        if b.text
    ]


def _with_cache(
    converted: pb.ContentBlock,
    block: TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock,
) -> pb.ContentBlock:
    """The client's cache breakpoint on a converted block; a tool_result whose inner text part
    carries one (and the result itself none) gets it on the result, the same place in the
    prompt once its parts are joined."""
    cache = block.cache_control
    if cache is None and isinstance(block, ToolResultBlock) and isinstance(block.content, list):
        cache = next((p.cache_control for p in block.content if p.cache_control), None)
    if cache is not None:
        converted.cache.CopyFrom(cache_control(cache))
    return converted


def _messages(message: Message, param: str) -> list[pb.ChatMessage]:
    """One client message as neutral messages: a user turn splits where tool results start or
    end (results in ROLE_TOOL messages, the rest in ROLE_USER ones), in the client's order."""
    if isinstance(message.content, str):
        role = _ROLES[message.role]
        return [pb.ChatMessage(role=role, content=[pb.ContentBlock(text=message.content)])]
    out: list[pb.ChatMessage] = []
    for position, block in enumerate(message.content):
        where = f"{param}.content.{position}"
        if isinstance(block, ThinkingBlock) and message.role == "assistant":
            thinking = pb.ThinkingBlock(text=block.thinking, signature=block.signature)
            role, converted = pb.ROLE_ASSISTANT, pb.ContentBlock(thinking=thinking)
        elif isinstance(block, RedactedThinkingBlock) and message.role == "assistant":
            thinking = pb.ThinkingBlock(redacted=block.data)
            role, converted = pb.ROLE_ASSISTANT, pb.ContentBlock(thinking=thinking)
        elif isinstance(block, ThinkingBlock | RedactedThinkingBlock):
            continue
        else:
            role, converted = _block(message.role, block, where)
            _with_cache(converted, block)
        if not out or out[-1].role != role:
            out.append(pb.ChatMessage(role=role))
        out[-1].content.append(converted)
    if not out and message.role == "user":
        raise ApiError(400, "a user message needs content", param=f"{param}.content")
    return out


def _block(
    role: str, block: TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock, param: str
) -> tuple[pb.Role, pb.ContentBlock]:
    base = _ROLES[role]
    if isinstance(block, TextBlock):
        return base, pb.ContentBlock(text=block.text)
    if role == "system":
        raise ApiError(400, "a system message can only hold text", param=param)
    if isinstance(block, ImageBlock):
        if role != "user":
            raise ApiError(400, "only user messages can carry images", param=param)
        return base, pb.ContentBlock(image=_image(block, param))
    if isinstance(block, ToolUseBlock):
        if role != "assistant":
            raise ApiError(400, "only assistant messages can carry tool_use", param=param)
        name = tool_name(block.name, f"{param}.name", ANTHROPIC_TOOL_NAME)
        use = pb.ToolUseBlock(id=block.id, name=name, arguments_json=json.dumps(block.input))
        return base, pb.ContentBlock(tool_use=use)
    if role != "user":
        raise ApiError(400, "only user messages can carry tool_result", param=param)
    result = pb.ToolResultBlock(
        tool_use_id=block.tool_use_id,
        content=_result_text(block, param),
        is_error=block.is_error,
    )
    return pb.ROLE_TOOL, pb.ContentBlock(tool_result=result)


def _image(block: ImageBlock, param: str) -> pb.ImageBlock:
    source = block.source
    if source.type == "url":
        if not source.url.startswith(("http://", "https://")):
            raise ApiError(400, "an image url must be http(s)", param=f"{param}.source.url")
        return pb.ImageBlock(url=source.url)
    try:
        data = base64.b64decode(source.data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400, "image data is not valid base64", param=f"{param}.source.data"
        ) from None
    if not data:
        raise ApiError(400, EMPTY_IMAGE, param=f"{param}.source.data")
    if (why := unsupported_image_type(source.media_type)) is not None:
        raise ApiError(400, why, param=f"{param}.source.media_type")
    return pb.ImageBlock(media_type=source.media_type.lower(), data=data)


def _result_text(block: ToolResultBlock, param: str) -> str:
    if block.content is None or isinstance(block.content, str):
        return block.content or ""
    if any(not isinstance(part, TextBlock) for part in block.content):
        raise ApiError(
            400, "a tool_result can only hold text here (no images yet)", param=f"{param}.content"
        )
    return "\n".join(part.text for part in block.content if isinstance(part, TextBlock))


def _add_tools(request: pb.ChatRequest, body: MessagesRequest) -> None:
    for index, tool in enumerate(body.tools or ()):
        param = f"tools.{index}"
        if tool.type not in (None, "custom"):
            raise ApiError(
                400,
                f"server tool {tool.type!r} is not available through this proxy; "
                "only client tools (name, description, input_schema)",
                param=f"{param}.type",
            )
        if tool.input_schema is None:
            raise ApiError(400, "a tool needs input_schema", param=f"{param}.input_schema")
        request.tools.append(
            pb.ToolSpec(
                name=tool_name(tool.name, f"{param}.name", ANTHROPIC_TOOL_NAME),
                description=tool.description or "",
                parameters_json=json.dumps(tool.input_schema),
                cache=cache_control(tool.cache_control) if tool.cache_control else None,
            )
        )
    choice = body.tool_choice
    if choice is None:
        return
    request.tool_choice.mode = _TOOL_CHOICES[choice.type]
    if choice.type == "tool":
        if not choice.name:
            raise ApiError(400, "tool_choice of type tool needs a name", param="tool_choice.name")
        request.tool_choice.name = tool_name(choice.name, "tool_choice.name", ANTHROPIC_TOOL_NAME)
    if choice.disable_parallel_tool_use:
        request.parallel_tool_calls = False


def estimate_input_tokens(body: CountTokensRequest) -> int:
    """count_tokens: an estimate, about four characters a token as the controller's rate limits
    count (controller/scheduling/ratelimit.py), plus a flat figure per image; never zero."""
    chars = sum(len(m.content[0].text) for m in _system(body))
    images = 0
    for message in body.messages:
        blocks = (
            [TextBlock(type="text", text=message.content)]
            if isinstance(message.content, str)
            else message.content
        )
        for block in blocks:
            if isinstance(block, TextBlock):
                chars += len(block.text)
            elif isinstance(block, ImageBlock):
                images += 1
            elif isinstance(block, ToolUseBlock):
                chars += len(block.name) + len(json.dumps(block.input))
            elif isinstance(block, ToolResultBlock):
                if isinstance(block.content, str):
                    chars += len(block.content)
                for part in block.content if isinstance(block.content, list) else ():
                    if isinstance(part, TextBlock):
                        chars += len(part.text)
                    else:
                        images += 1
            elif isinstance(block, ThinkingBlock):
                chars += len(block.thinking)
    for tool in body.tools or ():
        chars += len(tool.name) + len(tool.description or "")
        chars += len(json.dumps(tool.input_schema or {}))
    return max(1, chars // 4) + images * IMAGE_TOKEN_ESTIMATE
