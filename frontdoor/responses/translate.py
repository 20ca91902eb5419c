"""Pure translation: OpenAI Responses API request -> the neutral ChatRequest.

Shares the chat door's helpers (images, efforts, tool choices); items map onto content blocks:
messages -> text/image blocks, function_call -> tool_use on an assistant turn (call_id is the
tool_use id), function_call_output -> a tool turn's tool_result with that id."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from frontdoor.core.errors import ApiError
from frontdoor.core.limits import ANTHROPIC_TOOL_NAME, bounded, json_arguments, metadata, tool_name
from frontdoor.core.neutral_request import (
    image_block,
    reasoning_effort,
    set_sampling,
    set_tool_choice,
    user_images_only,
)
from frontdoor.core.params import ParamMap
from frontdoor.responses.models import InputItem, InputPart, ResponsesRequest
from frontdoor.responses.tools import CLIENT_TYPES, custom_arguments, declared, flat_name
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)

_ROLES = {
    "system": pb.ROLE_SYSTEM,
    "developer": pb.ROLE_SYSTEM,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
}
_TEXT_PARTS = ("input_text", "output_text")


FIELDS = {
    "max_tokens": "max_output_tokens",
    "reasoning_effort": "reasoning.effort",
    "response_format": "text.format",
    "response_format.json_schema": "text.format.schema",
    "messages": "input",
}


def param_map() -> ParamMap:
    """The Responses API's names for the neutral request's fields (frontdoor/core/params.py)."""
    return ParamMap(lambda n: f"input[{n}]", FIELDS)


def to_chat_request(
    body: ResponsesRequest,
    model: str,
    request_id: str,
    history: Sequence[pb.ChatMessage] = (),
    params: ParamMap | None = None,
) -> pb.ChatRequest:
    """Validate what pydantic cannot and build the neutral request: the instructions, then the
    stored conversation this one continues (`history`, from previous_response_id), then input;
    `params` learns where each neutral message came from."""
    params = params if params is not None else param_map()
    metadata(body.metadata)
    request = pb.ChatRequest(
        request_id=request_id, model=model, stream=body.stream, user=body.user or ""
    )
    if body.instructions:
        request.messages.append(
            pb.ChatMessage(role=pb.ROLE_SYSTEM, content=[pb.ContentBlock(text=body.instructions)])
        )
        params.note("instructions")
    request.messages.extend(history)
    params.note("previous_response_id", len(history))
    request.messages.extend(_messages(body.input, params))
    if not request.messages:
        raise ApiError(400, "input must not be empty", param="input")
    set_sampling(
        request, body.max_output_tokens, body.temperature, body.top_p, body.parallel_tool_calls
    )
    _add_tools(request, body)
    _add_format(request, body)
    effort = body.reasoning.effort if body.reasoning else None
    request.reasoning_effort = reasoning_effort(effort, "reasoning.effort")
    return request


def _messages(items: str | list[InputItem], params: ParamMap) -> list[pb.ChatMessage]:
    if isinstance(items, str):
        params.note("input")
        return [pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text=items)])]
    out: list[pb.ChatMessage] = []
    for index, item in enumerate(items):
        before = len(out)
        param = f"input[{index}]"
        kind = item.type or "message"
        if kind == "message":
            out.append(_message(item, param))
        elif kind in ("function_call", "custom_tool_call"):
            _function_call(out, item, param)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            out.append(_function_output(item, param))
        elif kind == "reasoning":
            logger.info("skipping a reasoning input item (%s)", param)
        elif kind == "additional_tools":
            pass  # tools, not conversation: they join the request's tools (_add_tools)
        else:
            raise ApiError(400, f"input item type {kind!r} is not supported", param=f"{param}.type")
        params.note(index, len(out) - before)
    return out


def _message(item: InputItem, param: str) -> pb.ChatMessage:
    if item.role not in _ROLES:
        allowed = ", ".join(_ROLES)
        raise ApiError(400, f"role must be one of {allowed}", param=f"{param}.role")
    out = pb.ChatMessage(role=_ROLES[item.role])
    content = item.content
    if isinstance(content, str):
        if content:
            out.content.append(pb.ContentBlock(text=content))
    else:
        for n, part in enumerate(content or ()):
            out.content.append(_part(part, f"{param}.content[{n}]"))
    if not out.content and item.role == "user":
        raise ApiError(400, "a user message needs content", param=f"{param}.content")
    user_images_only(out.content, item.role, f"{param}.content")
    return out


def _part(part: InputPart, param: str) -> pb.ContentBlock:
    if part.type in _TEXT_PARTS:
        return pb.ContentBlock(text=part.text or "")
    if part.type == "input_image":
        if not part.image_url:
            raise ApiError(
                400, "input_image needs image_url (file_id is not supported)", param=param
            )
        return pb.ContentBlock(image=image_block(part.image_url, param))
    raise ApiError(400, f"content part type {part.type!r} is not supported", param=param)


def _function_call(out: list[pb.ChatMessage], item: InputItem, param: str) -> None:
    """A tool_use on the assistant turn just before it (a new assistant turn if there is none),
    named as the model sees the tool (responses/tools.py); a custom call's input as its argument."""
    if not item.call_id or not item.name:
        raise ApiError(400, f"a {item.type} item needs call_id and name", param=param)
    if not out or out[-1].role != pb.ROLE_ASSISTANT:
        out.append(pb.ChatMessage(role=pb.ROLE_ASSISTANT))
    if item.type == "custom_tool_call":
        arguments = custom_arguments(item.input or "")
    else:
        arguments = item.arguments or ""
        json_arguments(arguments, f"{param}.arguments")
    tool_name(item.name, f"{param}.name")
    if item.namespace:
        tool_name(item.namespace, f"{param}.namespace")
    name = tool_name(flat_name(item.name, item.namespace), param, ANTHROPIC_TOOL_NAME)
    call_id = bounded(item.call_id, f"{param}.call_id")
    use = pb.ToolUseBlock(id=call_id, name=name, arguments_json=arguments)
    out[-1].content.append(pb.ContentBlock(tool_use=use))


def _function_output(item: InputItem, param: str) -> pb.ChatMessage:
    if not item.call_id:
        raise ApiError(400, f"a {item.type} item needs call_id", param=param)
    bounded(item.call_id, f"{param}.call_id")
    if isinstance(item.output, str) or item.output is None:
        text = item.output or ""
    else:
        blocks = [_part(p, f"{param}.output[{n}]") for n, p in enumerate(item.output)]
        if any(not block.HasField("text") for block in blocks):
            raise ApiError(400, "function_call_output must be text", param=f"{param}.output")
        text = "".join(block.text for block in blocks)
    result = pb.ToolResultBlock(tool_use_id=item.call_id, content=text)
    return pb.ChatMessage(role=pb.ROLE_TOOL, content=[pb.ContentBlock(tool_result=result)])


def _add_tools(request: pb.ChatRequest, body: ResponsesRequest) -> None:
    """Function, custom and namespace tools as functions (responses/tools.py), from `tools` and
    from additional_tools input items; tools the provider would run (web_search and the like)
    are left out, with a log line."""
    client_tools, dropped = declared(body.all_tools())
    if dropped:
        logger.info("leaving out tools this proxy cannot run: %s", ", ".join(dropped))
    for tool in client_tools:
        request.tools.append(
            pb.ToolSpec(
                name=tool.flat,
                description=tool.description,
                parameters_json=tool.parameters_json(),
            )
        )
    choice = body.tool_choice
    name = (
        flat_name(str(choice.get("name") or ""), choice.get("namespace"))
        if isinstance(choice, dict) and choice.get("type") in CLIENT_TYPES
        else None
    )
    if name:
        tool_name(name, "tool_choice.name", ANTHROPIC_TOOL_NAME)
    wrong = "tool_choice must be auto, none, required or a named function or custom tool"
    set_tool_choice(request, choice, name, wrong)


def _add_format(request: pb.ChatRequest, body: ResponsesRequest) -> None:
    fmt = body.text.format if body.text else None
    if fmt is None or fmt.type == "text":
        return
    if fmt.type == "json_object":
        request.response_format = pb.RESPONSE_FORMAT_JSON_OBJECT
        return
    if fmt.type != "json_schema":
        raise ApiError(400, f"text.format type {fmt.type!r} is not supported", param="text.format")
    if fmt.schema_ is None:
        raise ApiError(400, "a json_schema format needs a schema", param="text.format.schema")
    request.response_format = pb.RESPONSE_FORMAT_JSON_SCHEMA
    request.json_schema = json.dumps(fmt.schema_)
