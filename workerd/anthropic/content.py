"""Pure: neutral messages and tools (ChatMessage, ContentBlock, ToolSpec) -> Anthropic content
blocks, turns, tools and tool choice.

One builder per block kind (text, image, tool_use, tool_result, thinking) and one tool-choice
table for both worker kinds. Two readings of a conversation put the blocks together:
- `api_conversation`: the `system` and `messages` of a Messages API call. Strict: what cannot
  be sent is an UnservableRequest naming its field; the client's cache breakpoints and signed
  thinking go along.
- `conversation_turns`, `turn_of` and `system_prompt`: the turns and system prompt of a CLI
  run. Lenient, as the CLI has always taken them: every message is a user or assistant turn;
  with `tool_name` (the run serves the client's tools over the MCP bridge) tool calls and
  results are real blocks, the tool named as the model sees it, without it labelled text.
  Thinking stays out (the CLI keeps its own), and so do cache breakpoints.
Both merge consecutive messages of one role into one turn. The two system prompts join a
message's blocks differently (nothing for the api, a newline for the CLI): each is byte-stable
for the prompt cache as it is, so neither may change. An api worker declares the client's tools
in its call (`tool_specs`); a CLI run serves them over the MCP bridge, where the model sees
them under the bridge's names; both send the same `tool_choice`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from common.images import unsupported_image_type
from protos import common_pb2 as pb
from workerd.anthropic import client_json
from workerd.errors import UnservableRequest

JSONDict = dict[str, Any]
ToolName = Callable[[str], str]
"""A client tool's name as the model sees it (the CLI's MCP bridge renames them)."""
CONTINUATION = "(the conversation so far)"
TOOL_CHOICES: dict[int, JSONDict] = {
    pb.TOOL_CHOICE_AUTO: {"type": "auto"},
    pb.TOOL_CHOICE_NONE: {"type": "none"},
    pb.TOOL_CHOICE_REQUIRED: {"type": "any"},
}
REMOTE_IMAGES_OFF = (
    "remote image URLs are not fetched by this deployment; send the image's bytes inline "
    "(or set FETCH_REMOTE_IMAGES=true on the proxy)"
)


@dataclass
class Turn:
    """One user or assistant message as Anthropic content blocks."""

    role: str
    blocks: list[JSONDict] = field(default_factory=list)


# --- blocks ----------------------------------------------------------------------------------


def text_block(text: str) -> JSONDict:
    return {"type": "text", "text": text}


def image_block(image: pb.ImageBlock, param: str, fetch: bool = False) -> JSONDict:
    """A URL source when the upstream may fetch it (`fetch`), else the bytes as base64."""
    if image.url:
        if not fetch:
            raise UnservableRequest(REMOTE_IMAGES_OFF, param)
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    media_type = image.media_type.lower()
    if (why := unsupported_image_type(media_type)) is not None:
        raise UnservableRequest(why, param)
    if not image.data:
        raise UnservableRequest("the image is empty", param)
    data = base64.b64encode(image.data).decode("ascii")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def tool_use_block(
    call: pb.ToolUseBlock, param: str, tool_name: ToolName | None = None
) -> JSONDict:
    """A tool call, the tool named as the model sees it; `param` names its arguments."""
    try:
        arguments = client_json.loads(call.arguments_json) if call.arguments_json.strip() else {}
    except client_json.ClientJsonError as exc:
        raise UnservableRequest(f"tool call {call.id} arguments: {exc}", param) from None
    if not isinstance(arguments, dict):
        raise UnservableRequest(f"tool call {call.id} arguments must be a JSON object", param)
    name = call.name if tool_name is None else tool_name(call.name)
    return {"type": "tool_use", "id": call.id, "name": name, "input": arguments}


def tool_result_block(result: pb.ToolResultBlock, bridged: bool = False) -> JSONDict:
    """A tool's result: its content as a string, left out when empty. `bridged`: as the CLI
    sends a result the MCP bridge gave it (text blocks, or a string for an error), so a rebuilt
    conversation reaches the model in the same bytes as a continued one."""
    out: JSONDict = {"type": "tool_result", "tool_use_id": result.tool_use_id}
    if bridged and not result.is_error:
        out["content"] = [text_block(result.content)]
    elif bridged or result.content:
        out["content"] = result.content
    if result.is_error:
        out["is_error"] = True
    return out


def thinking_block(thinking: pb.ThinkingBlock) -> JSONDict | None:
    """Thinking back upstream: redacted as it came, signed as it was; unsigned cannot go."""
    if thinking.redacted:  # opaque: back upstream exactly as it came
        return {"type": "redacted_thinking", "data": thinking.redacted}
    if thinking.signature:
        return {"type": "thinking", "thinking": thinking.text, "signature": thinking.signature}
    return None


def cached(out: JSONDict, source: pb.ContentBlock | pb.ToolSpec) -> JSONDict:
    """`out` with the client's cache breakpoint, when the block (or tool) carries one."""
    if source.HasField("cache"):
        cache: JSONDict = {"type": "ephemeral"}
        if source.cache.ttl:
            cache["ttl"] = source.cache.ttl
        out["cache_control"] = cache
    return out


def merge(turns: list[Turn]) -> list[Turn]:
    """Consecutive turns of one role as one; empty turns dropped."""
    merged: list[Turn] = []
    for turn in turns:
        if not turn.blocks:
            continue
        if merged and merged[-1].role == turn.role:
            merged[-1].blocks.extend(turn.blocks)
        else:
            merged.append(turn)
    return merged


# --- the Messages API's reading --------------------------------------------------------------


def api_conversation(
    request: pb.ChatRequest, fetch: bool
) -> tuple[str | list[JSONDict], list[JSONDict]]:
    """The system prompt, and user/assistant turns with consecutive same-role messages merged.

    The system prompt is one text (the system messages joined by a blank line), or, when a
    system block carries a cache breakpoint, the system blocks as text blocks in order."""
    system: list[pb.ChatMessage] = []
    turns: list[Turn] = []
    for index, message in enumerate(request.messages):
        param = f"messages[{index}]"
        if message.role == pb.ROLE_SYSTEM:
            _check_system(message, param)
            system.append(message)
        elif message.role == pb.ROLE_ASSISTANT:
            turns.append(Turn("assistant", _assistant_blocks(message, param)))
        elif message.role == pb.ROLE_USER:
            turns.append(Turn("user", _user_blocks(message, param, fetch)))
        elif message.role == pb.ROLE_TOOL:
            turns.append(Turn("user", _tool_blocks(message, param)))
        else:
            raise UnservableRequest("message role is missing", f"{param}.role")
    messages = [{"role": turn.role, "content": turn.blocks} for turn in merge(turns)]
    if not any(message["role"] == "user" for message in messages):
        raise UnservableRequest("the conversation needs at least one user message", "messages")
    if any(block.HasField("cache") for message in system for block in message.content):
        parts = [block for message in system for block in message.content if block.text]
        return [cached(text_block(part.text), part) for part in parts], messages
    texts = ("".join(block.text for block in message.content) for message in system)
    return "\n\n".join(text for text in texts if text), messages


def _check_system(message: pb.ChatMessage, param: str) -> None:
    for position, block in enumerate(message.content):
        if block.WhichOneof("kind") != "text":
            raise UnservableRequest(
                "system and developer messages can only hold text", f"{param}.content[{position}]"
            )


def _user_blocks(message: pb.ChatMessage, param: str, fetch: bool) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    for position, block in enumerate(message.content):
        kind = block.WhichOneof("kind")
        if kind == "text":
            if block.text:
                blocks.append(cached(text_block(block.text), block))
        elif kind == "image":
            image = image_block(block.image, f"{param}.content[{position}]", fetch)
            blocks.append(cached(image, block))
        else:
            raise UnservableRequest(f"a user message cannot carry a {kind} block", param)
    return blocks


def _assistant_blocks(message: pb.ChatMessage, param: str) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    calls = 0
    for block in message.content:
        kind = block.WhichOneof("kind")
        if kind == "text":
            if block.text:
                blocks.append(cached(text_block(block.text), block))
        elif kind == "tool_use":
            call, call_param = block.tool_use, f"{param}.tool_calls[{calls}]"
            if not call.id or not call.name:
                raise UnservableRequest("a tool call needs an id and a function name", call_param)
            blocks.append(cached(tool_use_block(call, f"{call_param}.function.arguments"), block))
            calls += 1
        elif kind == "thinking":
            if (thinking := thinking_block(block.thinking)) is not None:
                blocks.append(thinking)
        else:
            raise UnservableRequest(f"an assistant message cannot carry a {kind} block", param)
    return blocks


def _tool_blocks(message: pb.ChatMessage, param: str) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    for block in message.content:
        if block.WhichOneof("kind") != "tool_result":
            raise UnservableRequest("a tool message can only carry a tool result", param)
        if not block.tool_result.tool_use_id:
            raise UnservableRequest("a tool message needs tool_call_id", f"{param}.tool_call_id")
        blocks.append(cached(tool_result_block(block.tool_result), block))
    return blocks


# --- the CLI's reading -----------------------------------------------------------------------


def conversation_turns(
    messages: list[pb.ChatMessage], tool_name: ToolName | None = None
) -> list[Turn]:
    """The whole conversation as alternating turns, ending on the user turn to answer."""
    turns = merge([turn_of(m, tool_name) for m in messages if m.role != pb.ROLE_SYSTEM])
    if not turns or turns[-1].role != "user":
        raise UnservableRequest("the last message must be a user or tool message", "messages")
    if turns[0].role == "assistant":
        turns.insert(0, Turn("user", [text_block(CONTINUATION)]))
    return turns


def turn_of(message: pb.ChatMessage, tool_name: ToolName | None = None) -> Turn:
    """One message as a CLI turn; with `tool_name`, real tool blocks (else labelled text)."""
    role = "assistant" if message.role == pb.ROLE_ASSISTANT else "user"
    blocks: list[JSONDict] = []
    for block in message.content:
        kind = block.WhichOneof("kind")
        if tool_name is not None and kind == "tool_use":
            blocks.append(tool_use_block(block.tool_use, "messages", tool_name))
        elif tool_name is not None and kind == "tool_result":
            blocks.append(tool_result_block(block.tool_result, bridged=True))
        elif kind == "image":
            blocks.append(image_block(block.image, "messages"))
        elif text := labelled_text(block):
            blocks.append(text_block(text))
    return Turn(role, blocks)


def system_prompt(messages: list[pb.ChatMessage]) -> str:
    """The CLI's system prompt: each system message's blocks joined by a newline."""
    parts = [
        "\n".join(labelled_text(b) for b in m.content) for m in messages if m.role == pb.ROLE_SYSTEM
    ]
    return "\n\n".join(p for p in parts if p)


def labelled_text(block: pb.ContentBlock) -> str:
    """A block as text: tool calls and results labelled; thinking and images as nothing."""
    kind = block.WhichOneof("kind")
    if kind == "text":
        return block.text
    if kind == "tool_use":
        use = block.tool_use
        return f"[called tool {use.name} (id {use.id}) with {use.arguments_json}]"
    if kind == "tool_result":
        outcome = "failed" if block.tool_result.is_error else "returned"
        return f"[tool call {block.tool_result.tool_use_id} {outcome}: {block.tool_result.content}]"
    return ""


# --- tools ----------------------------------------------------------------------------------


def tool_choice(
    request: pb.ChatRequest, names: Collection[str], tool_name: ToolName | None = None
) -> JSONDict | None:
    """The `tool_choice` for the request's choice and parallel_tool_calls over the tools named
    `names` (None: the upstream's default); `tool_name` names a tool as the model sees it."""
    choice = request.tool_choice
    body: JSONDict | None = None
    if choice.mode == pb.TOOL_CHOICE_UNSPECIFIED:
        pass
    elif not names:
        if choice.mode in (pb.TOOL_CHOICE_AUTO, pb.TOOL_CHOICE_NONE):
            return None  # nothing to choose from: both mean "answer in text"
        raise UnservableRequest("tool_choice needs tools", "tool_choice")
    elif choice.mode == pb.TOOL_CHOICE_NAMED:
        if choice.name not in names:
            raise UnservableRequest(
                f"tool_choice names {choice.name!r}, which is not in tools", "tool_choice"
            )
        name = choice.name if tool_name is None else tool_name(choice.name)
        body = {"type": "tool", "name": name}
    elif choice.mode in TOOL_CHOICES:
        body = dict(TOOL_CHOICES[choice.mode])
    else:
        raise UnservableRequest("unknown tool_choice", "tool_choice")
    if names and request.HasField("parallel_tool_calls") and not request.parallel_tool_calls:
        body = {**(body or {"type": "auto"}), "disable_parallel_tool_use": True}
    return body


def tool_specs(request: pb.ChatRequest) -> list[JSONDict]:
    """The request's tools as a Messages API call declares them."""
    tools: list[JSONDict] = []
    seen: set[str] = set()
    for index, spec in enumerate(request.tools):
        if spec.name in seen:
            raise UnservableRequest(
                f"tool {spec.name!r} is declared twice", f"tools[{index}].function.name"
            )
        seen.add(spec.name)
        schema = object_schema(spec.parameters_json, f"tools[{index}].function.parameters")
        tool: JSONDict = {"name": spec.name, "input_schema": schema}
        if spec.description:
            tool["description"] = spec.description
        tools.append(cached(tool, spec))
    return tools


def schema_object(raw: str, param: str) -> JSONDict:
    """A client's schema as a JSON object (empty text: `{}`); UnservableRequest naming `param`."""
    try:
        schema = client_json.loads(raw) if raw.strip() else {}
    except client_json.ClientJsonError as exc:
        raise UnservableRequest(f"the schema: {exc}", param) from None
    if not isinstance(schema, dict):
        raise UnservableRequest("the schema must be a JSON object", param)
    return schema


def object_schema(raw: str, param: str) -> JSONDict:
    """A JSON schema whose root is an object, as the Messages API requires for tool input."""
    schema = schema_object(raw, param)
    if schema.get("type", "object") != "object":
        raise UnservableRequest("Claude needs a schema whose root type is object", param)
    return {"type": "object", **schema}
