"""Pure translation: OpenAI request -> internal ChatRequest, internal events -> OpenAI JSON."""

from __future__ import annotations

import json

from frontdoor.chat.models import ChatCompletionRequest, ContentPart, Message, ToolCall
from frontdoor.core.errors import ApiError
from frontdoor.core.limits import NAME_MAX, bounded, json_arguments, tool_name
from frontdoor.core.neutral_request import (
    cache_breakpoint,
    image_block,
    reasoning_effort,
    set_sampling,
    set_tool_choice,
    user_images_only,
)
from protos import common_pb2 as pb

_ROLES = {
    "system": pb.ROLE_SYSTEM,
    "developer": pb.ROLE_SYSTEM,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
}


def to_chat_request(body: ChatCompletionRequest, model: str, request_id: str) -> pb.ChatRequest:
    """Validate what pydantic cannot and build the neutral request."""
    if body.n is not None and body.n > 1:
        raise ApiError(400, "n > 1 is not supported; send separate requests", param="n")
    _reject_unavailable(body)
    request = pb.ChatRequest(
        request_id=request_id,
        model=model,
        messages=[_message(m, i) for i, m in enumerate(body.messages)],
        stream=body.stream,
        stop=_stops(body.stop),
        user=body.user or "",
    )
    max_tokens = body.max_completion_tokens or body.max_tokens
    set_sampling(request, max_tokens, body.temperature, body.top_p, body.parallel_tool_calls)
    _add_tools(request, body)
    _add_response_format(request, body)
    request.reasoning_effort = reasoning_effort(body.reasoning_effort)
    return request


def _reject_unavailable(body: ChatCompletionRequest) -> None:
    """Settings no Claude mode can honour get a 400, not a silent no-op (defaults pass)."""
    if body.logprobs or body.top_logprobs:
        raise ApiError(400, "logprobs are not available from Claude", param="logprobs")
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(body, name):
            raise ApiError(400, f"{name} is not supported by Claude; leave it at 0", param=name)
    if body.logit_bias:
        raise ApiError(400, "logit_bias is not supported by Claude", param="logit_bias")
    if body.audio is not None or any(m != "text" for m in body.modalities or ()):
        raise ApiError(400, "only text output is available", param="modalities")


def _message(message: Message, index: int) -> pb.ChatMessage:
    if message.role == "function":
        raise ApiError(400, "the function role is deprecated; use tool", param=f"messages[{index}]")
    name = bounded(message.name or "", f"messages[{index}].name", NAME_MAX)
    out = pb.ChatMessage(role=_ROLES[message.role], name=name)
    if message.role == "tool":
        if not message.tool_call_id:
            raise ApiError(400, "a tool message needs tool_call_id", param=f"messages[{index}]")
        call_id = bounded(message.tool_call_id, f"messages[{index}].tool_call_id")
        out.content.append(
            pb.ContentBlock(
                tool_result=pb.ToolResultBlock(
                    tool_use_id=call_id, content=_plain_text(message, index)
                )
            )
        )
        return out
    out.content.extend(_content_blocks(message, index))
    for n, call in enumerate(message.tool_calls or ()):
        if message.role != "assistant":
            raise ApiError(
                400, "only assistant messages carry tool_calls", param=f"messages[{index}]"
            )
        out.content.append(
            pb.ContentBlock(tool_use=_tool_use(call, f"messages[{index}].tool_calls[{n}]"))
        )
    if not out.content and message.role == "user":
        raise ApiError(400, "a user message needs content", param=f"messages[{index}].content")
    return out


def _tool_use(call: ToolCall, param: str) -> pb.ToolUseBlock:
    """A call from the client's history, held to the rules its declaration is (name, id) and
    its arguments to the body's JSON limits (frontdoor/core/limits.py)."""
    json_arguments(call.function.arguments, f"{param}.function.arguments")
    return pb.ToolUseBlock(
        id=bounded(call.id, f"{param}.id"),
        name=tool_name(call.function.name, f"{param}.function.name"),
        arguments_json=call.function.arguments,
    )


def _content_blocks(message: Message, index: int) -> list[pb.ContentBlock]:
    if message.content is None:
        return []
    if isinstance(message.content, str):
        return [pb.ContentBlock(text=message.content)] if message.content else []
    blocks = [
        _part(part, f"messages[{index}].content[{n}]") for n, part in enumerate(message.content)
    ]
    if message.role != "tool":  # a tool's content must be text (_plain_text)
        user_images_only(blocks, message.role, f"messages[{index}].content")
    return blocks


def _part(part: ContentPart, param: str) -> pb.ContentBlock:
    if part.type == "text":
        if part.text is None:
            raise ApiError(400, "a text part needs `text`", param=f"{param}.text")
        block = pb.ContentBlock(text=part.text)
    elif part.type == "image_url" and part.image_url is not None:
        block = pb.ContentBlock(image=image_block(part.image_url.url, param))
    else:
        raise ApiError(400, f"content part type {part.type!r} is not supported", param=param)
    cache = (part.model_extra or {}).get("cache_control")
    if cache is not None:  # OpenRouter-style prompt caching: a breakpoint after this part
        block.cache.CopyFrom(cache_breakpoint(cache, f"{param}.cache_control"))
    return block


def _plain_text(message: Message, index: int) -> str:
    blocks = _content_blocks(message, index)
    if any(not block.HasField("text") for block in blocks):
        raise ApiError(400, "tool message content must be text", param=f"messages[{index}]")
    return "".join(block.text for block in blocks)


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if len(stops) > 4:
        raise ApiError(400, "at most 4 stop sequences are allowed", param="stop")
    return stops


def _add_tools(request: pb.ChatRequest, body: ChatCompletionRequest) -> None:
    for index, tool in enumerate(body.tools or ()):
        request.tools.append(
            pb.ToolSpec(
                name=tool_name(tool.function.name, f"tools[{index}].function.name"),
                description=tool.function.description or "",
                parameters_json=json.dumps(tool.function.parameters or {"type": "object"}),
            )
        )
    choice = body.tool_choice
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if isinstance(choice, dict) and choice.get("type") != "function":
        name = None
    if isinstance(name, str) and name:
        tool_name(name, "tool_choice.function.name")
    set_tool_choice(request, choice, name, "tool_choice must name a function")


def _add_response_format(request: pb.ChatRequest, body: ChatCompletionRequest) -> None:
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return
    if fmt.type == "json_object":
        request.response_format = pb.RESPONSE_FORMAT_JSON_OBJECT
        return
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise ApiError(400, "json_schema needs a schema", param="response_format.json_schema")
    request.response_format = pb.RESPONSE_FORMAT_JSON_SCHEMA
    request.json_schema = json.dumps(fmt.json_schema.schema_)
