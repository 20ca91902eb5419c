"""Pure: neutral ChatRequest -> the Messages API call's JSON body (api mode).

`build_call` turns a request into the body of a `POST /v1/messages`, raising
`UnsupportedRequest` (a 400 naming the field) for anything it cannot honour: nothing is
silently dropped. The way back (stream events -> neutral events) is in messages_stream.py.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from common import reasoning
from common.images import unsupported_image_type
from common.models import FAMILY_MODELS
from protos import common_pb2 as pb
from workerd.cli.command import UnsupportedRequest

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "JSON_TOOL",
    "MODEL_IDS",
    "MessagesCall",
    "UnsupportedRequest",
    "build_call",
    "model_id",
]

MODEL_IDS = FAMILY_MODELS  # one home: common/models.py
DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_response"
"""The tool forced for response_format json_object / json_schema; its input is the answer."""
JSON_TOOL_DESCRIPTION = (
    "Give your complete answer by calling this tool exactly once; its input is the answer, "
    "a JSON value that follows the input schema."
)
EFFORT_BETA = "effort-2025-11-24"
# Models that think with a token budget (`thinking: enabled`) and take no effort setting, as the
# CLI sends for them (docs/claude-cli.md "Thinking"); every other model thinks adaptively with
# `output_config.effort`.
BUDGET_MODELS = (
    "claude-haiku-4",
    "claude-sonnet-4",
    "claude-opus-4-0",
    "claude-opus-4-1",
    "claude-3-7",
)
THINKING_BUDGETS = {"low": 2_048, "medium": 8_192, "high": 16_384, "xhigh": 24_576, "max": 31_999}
MIN_THINKING_BUDGET = 1_024
_TOOL_CHOICES: dict[int, dict[str, str]] = {
    pb.TOOL_CHOICE_AUTO: {"type": "auto"},
    pb.TOOL_CHOICE_NONE: {"type": "none"},
    pb.TOOL_CHOICE_REQUIRED: {"type": "any"},
}
JSONDict = dict[str, Any]


@dataclass(frozen=True)
class MessagesCall:
    """What to send: `body` as the JSON of a `POST /v1/messages` (upstream.py adds `stream`)."""

    body: JSONDict
    json_tool: str = ""
    """Set when the answer is the input of this forced tool (response_format)."""
    betas: tuple[str, ...] = ()
    """`anthropic-beta` values the call needs (the runner adds its own)."""


def model_id(model: str) -> str:
    """Family alias -> full model id; full `claude-...` ids (and anything else) pass through."""
    return MODEL_IDS.get(model, model)


def build_call(request: pb.ChatRequest, *, fetch_remote_images: bool = False) -> MessagesCall:
    """The Messages API call for a request; UnsupportedRequest names what cannot be honoured."""
    system, messages = _conversation(request, fetch_remote_images)
    max_tokens = request.max_tokens if request.HasField("max_tokens") else DEFAULT_MAX_TOKENS
    if max_tokens < 1:
        raise UnsupportedRequest("max_tokens must be at least 1", "max_tokens")
    body: JSONDict = {
        "model": model_id(request.model),
        "max_tokens": max_tokens,
        "messages": messages,
    }
    if system:
        body["system"] = system
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    betas = _add_thinking(body, request, messages, explicit_max=request.HasField("max_tokens"))
    body.update(_sampling(request))
    json_tool = ""
    if request.response_format != pb.RESPONSE_FORMAT_TEXT:
        body.update(_json_answer(request))
        json_tool = JSON_TOOL
    else:
        tools = _tools(request)
        if tools:
            body["tools"] = tools
        choice = _tool_choice(request, tools)
        if tools and request.HasField("parallel_tool_calls") and not request.parallel_tool_calls:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            body["tool_choice"] = choice
    return MessagesCall(body=body, json_tool=json_tool, betas=betas)


def _add_thinking(
    body: JSONDict, request: pb.ChatRequest, messages: list[JSONDict], *, explicit_max: bool
) -> tuple[str, ...]:
    """The model family's thinking configuration for the request's effort; the betas it needs.

    No effort (or none): no thinking, the Messages API's default. A conversation that goes on
    from tool calls whose turn came back without its (signed) thinking gets no thinking either:
    the API wants that turn's thinking back, and OpenAI clients never had the signature."""
    effort = request.reasoning_effort
    if effort and effort not in reasoning.EFFORTS:
        raise UnsupportedRequest(f"unknown reasoning effort {effort!r}", "reasoning_effort")
    if not reasoning.thinks(effort) or _after_tool_calls(messages):
        return ()
    _check_thinking_compatible(request)
    model = str(body["model"])
    if not model.startswith(BUDGET_MODELS):
        body["thinking"] = {"type": "adaptive"}
        body["output_config"] = {"effort": effort}
        return (EFFORT_BETA,)
    budget = THINKING_BUDGETS[effort]
    if not explicit_max:
        body["max_tokens"] = int(body["max_tokens"]) + budget
    budget = min(budget, int(body["max_tokens"]) - 1)
    if budget < MIN_THINKING_BUDGET:
        raise UnsupportedRequest(
            f"with reasoning, max_tokens must be above {MIN_THINKING_BUDGET} on {model}",
            "max_tokens",
        )
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return ()


def _after_tool_calls(messages: list[JSONDict]) -> bool:
    """The conversation goes on from tool calls whose turn has no thinking of its own to show
    (the API wants that turn to start with its thinking when thinking is on)."""
    if len(messages) < 2 or messages[-2]["role"] != "assistant":
        return False
    calls = messages[-2]["content"]
    if not any(block.get("type") == "tool_use" for block in calls):
        return False
    return calls[0].get("type") not in ("thinking", "redacted_thinking")


def _check_thinking_compatible(request: pb.ChatRequest) -> None:
    """What the Messages API refuses next to thinking: a 400 naming the field."""
    if request.HasField("temperature") and round(request.temperature, 4) != 1:
        raise UnsupportedRequest("reasoning needs temperature 1 (or unset)", "temperature")
    if request.HasField("top_p") and request.top_p < 0.95:
        raise UnsupportedRequest("reasoning needs top_p of at least 0.95 (or unset)", "top_p")
    if request.response_format != pb.RESPONSE_FORMAT_TEXT:
        raise UnsupportedRequest(
            "reasoning cannot be combined with response_format json_object/json_schema in api "
            "mode (the answer is a forced tool call)",
            "response_format",
        )
    if request.tool_choice.mode in (pb.TOOL_CHOICE_REQUIRED, pb.TOOL_CHOICE_NAMED):
        raise UnsupportedRequest("reasoning cannot be combined with a forced tool", "tool_choice")


def _sampling(request: pb.ChatRequest) -> JSONDict:
    sampling: JSONDict = {}
    if request.HasField("temperature"):
        if request.temperature > 1:
            raise UnsupportedRequest(
                "temperature above 1 is not available from Claude (its range is 0 to 1)",
                "temperature",
            )
        sampling["temperature"] = round(request.temperature, 4)
    if request.HasField("top_p"):
        sampling["top_p"] = round(request.top_p, 4)
    return sampling


# --- messages ------------------------------------------------------------------------------


def _conversation(
    request: pb.ChatRequest, fetch: bool
) -> tuple[str | list[JSONDict], list[JSONDict]]:
    """The system prompt, and user/assistant turns with consecutive same-role messages merged.

    The system prompt is one text (the system messages joined by a blank line), or, when a
    system block carries a cache breakpoint, the system blocks as text blocks in order."""
    system: list[pb.ChatMessage] = []
    turns: list[JSONDict] = []
    for index, message in enumerate(request.messages):
        param = f"messages[{index}]"
        if message.role == pb.ROLE_SYSTEM:
            _check_system(message, param)
            system.append(message)
            continue
        if message.role == pb.ROLE_ASSISTANT:
            role, blocks = "assistant", _assistant_blocks(message, param)
        elif message.role == pb.ROLE_USER:
            role, blocks = "user", _user_blocks(message, param, fetch)
        elif message.role == pb.ROLE_TOOL:
            role, blocks = "user", _tool_blocks(message, param)
        else:
            raise UnsupportedRequest("message role is missing", f"{param}.role")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not any(turn["role"] == "user" for turn in turns):
        raise UnsupportedRequest("the conversation needs at least one user message", "messages")
    if any(block.HasField("cache") for message in system for block in message.content):
        parts = [block for message in system for block in message.content if block.text]
        return [_cached({"type": "text", "text": part.text}, part) for part in parts], turns
    texts = ("".join(block.text for block in message.content) for message in system)
    return "\n\n".join(text for text in texts if text), turns


def _check_system(message: pb.ChatMessage, param: str) -> None:
    for position, block in enumerate(message.content):
        if block.WhichOneof("kind") != "text":
            raise UnsupportedRequest(
                "system and developer messages can only hold text", f"{param}.content[{position}]"
            )


def _cached(out: JSONDict, source: pb.ContentBlock | pb.ToolSpec) -> JSONDict:
    """`out` with the client's cache breakpoint, when the block (or tool) carries one."""
    if source.HasField("cache"):
        cache: JSONDict = {"type": "ephemeral"}
        if source.cache.ttl:
            cache["ttl"] = source.cache.ttl
        out["cache_control"] = cache
    return out


def _user_blocks(message: pb.ChatMessage, param: str, fetch: bool) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    for position, block in enumerate(message.content):
        kind = block.WhichOneof("kind")
        if kind == "text":
            if block.text:
                blocks.append(_cached({"type": "text", "text": block.text}, block))
        elif kind == "image":
            blocks.append(
                _cached(_image(block.image, f"{param}.content[{position}]", fetch), block)
            )
        else:
            raise UnsupportedRequest(f"a user message cannot carry a {kind} block", param)
    return blocks


def _image(image: pb.ImageBlock, param: str, fetch: bool) -> JSONDict:
    if image.url:
        if not fetch:
            raise UnsupportedRequest(
                "remote image URLs are not fetched by this deployment; send the image's "
                "bytes inline (or set FETCH_REMOTE_IMAGES=true on the proxy)",
                param,
            )
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    media_type = image.media_type.lower()
    if (why := unsupported_image_type(media_type)) is not None:
        raise UnsupportedRequest(why, param)
    if not image.data:
        raise UnsupportedRequest("the image is empty", param)
    data = base64.b64encode(image.data).decode("ascii")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_blocks(message: pb.ChatMessage, param: str) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    calls = 0
    for block in message.content:
        kind = block.WhichOneof("kind")
        if kind == "text":
            if block.text:
                blocks.append(_cached({"type": "text", "text": block.text}, block))
        elif kind == "tool_use":
            blocks.append(_cached(_tool_use(block.tool_use, f"{param}.tool_calls[{calls}]"), block))
            calls += 1
        elif kind == "thinking":
            thinking = block.thinking
            if thinking.redacted:  # opaque: back upstream exactly as it came
                blocks.append({"type": "redacted_thinking", "data": thinking.redacted})
            elif thinking.signature:  # unsigned thinking cannot go back upstream
                blocks.append(
                    {"type": "thinking", "thinking": thinking.text, "signature": thinking.signature}
                )
        else:
            raise UnsupportedRequest(f"an assistant message cannot carry a {kind} block", param)
    return blocks


def _tool_use(call: pb.ToolUseBlock, param: str) -> JSONDict:
    if not call.id or not call.name:
        raise UnsupportedRequest("a tool call needs an id and a function name", param)
    try:
        arguments = json.loads(call.arguments_json) if call.arguments_json.strip() else {}
    except json.JSONDecodeError as exc:
        raise UnsupportedRequest(
            f"tool call {call.id} arguments are not valid JSON ({exc.msg} at position {exc.pos})",
            f"{param}.function.arguments",
        ) from None
    if not isinstance(arguments, dict):
        raise UnsupportedRequest(
            f"tool call {call.id} arguments must be a JSON object", f"{param}.function.arguments"
        )
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def _tool_blocks(message: pb.ChatMessage, param: str) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    for block in message.content:
        if block.WhichOneof("kind") != "tool_result":
            raise UnsupportedRequest("a tool message can only carry a tool result", param)
        result = block.tool_result
        if not result.tool_use_id:
            raise UnsupportedRequest("a tool message needs tool_call_id", f"{param}.tool_call_id")
        out: JSONDict = {"type": "tool_result", "tool_use_id": result.tool_use_id}
        if result.content:
            out["content"] = result.content
        if result.is_error:
            out["is_error"] = True
        blocks.append(_cached(out, block))
    return blocks


# --- tools and response formats -------------------------------------------------------------


def _tools(request: pb.ChatRequest) -> list[JSONDict]:
    tools: list[JSONDict] = []
    seen: set[str] = set()
    for index, spec in enumerate(request.tools):
        if spec.name in seen:
            raise UnsupportedRequest(
                f"tool {spec.name!r} is declared twice", f"tools[{index}].function.name"
            )
        seen.add(spec.name)
        schema = _object_schema(spec.parameters_json, f"tools[{index}].function.parameters")
        tool: JSONDict = {"name": spec.name, "input_schema": schema}
        if spec.description:
            tool["description"] = spec.description
        tools.append(_cached(tool, spec))
    return tools


def _object_schema(raw: str, param: str) -> JSONDict:
    """A JSON schema whose root is an object, as the Messages API requires for tool input."""
    try:
        schema = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        raise UnsupportedRequest("the schema is not valid JSON", param) from None
    if not isinstance(schema, dict):
        raise UnsupportedRequest("the schema must be a JSON object", param)
    if schema.get("type", "object") != "object":
        raise UnsupportedRequest("Claude needs a schema whose root type is object", param)
    return {"type": "object", **schema}


def _tool_choice(request: pb.ChatRequest, tools: list[JSONDict]) -> JSONDict | None:
    choice = request.tool_choice
    if choice.mode == pb.TOOL_CHOICE_UNSPECIFIED:
        return None
    if not tools:
        if choice.mode in (pb.TOOL_CHOICE_AUTO, pb.TOOL_CHOICE_NONE):
            return None  # nothing to choose from: both mean "answer in text"
        raise UnsupportedRequest("tool_choice needs tools", "tool_choice")
    if choice.mode == pb.TOOL_CHOICE_NAMED:
        if not any(tool["name"] == choice.name for tool in tools):
            raise UnsupportedRequest(
                f"tool_choice names {choice.name!r}, which is not in tools", "tool_choice"
            )
        return {"type": "tool", "name": choice.name}
    if choice.mode not in _TOOL_CHOICES:
        raise UnsupportedRequest("unknown tool_choice", "tool_choice")
    return dict(_TOOL_CHOICES[choice.mode])


def _json_answer(request: pb.ChatRequest) -> JSONDict:
    """response_format as one forced tool whose input is the answer."""
    if request.tools:
        raise UnsupportedRequest(
            "response_format json_object/json_schema cannot be combined with tools in api mode",
            "response_format",
        )
    if request.tool_choice.mode in (pb.TOOL_CHOICE_REQUIRED, pb.TOOL_CHOICE_NAMED):
        raise UnsupportedRequest("tool_choice needs tools", "tool_choice")
    if request.response_format == pb.RESPONSE_FORMAT_JSON_SCHEMA:
        if not request.json_schema.strip():
            raise UnsupportedRequest("json_schema needs a schema", "response_format.json_schema")
        schema = _object_schema(request.json_schema, "response_format.json_schema")
    elif request.response_format == pb.RESPONSE_FORMAT_JSON_OBJECT:
        schema = {"type": "object"}
    else:
        raise UnsupportedRequest("unknown response_format", "response_format")
    tool = {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION, "input_schema": schema}
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": JSON_TOOL}}
