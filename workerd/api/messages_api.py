"""Pure: neutral ChatRequest -> the Messages API call's JSON body (api mode).

`build_call` turns a request into the body of a `POST /v1/messages`, raising
`UnservableRequest` (a 400 naming the field) for anything it cannot honour: nothing is
silently dropped. The content blocks and tools come from the Anthropic codec
(workerd/anthropic/), which also translates the way back (stream events -> neutral events).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common import reasoning
from common.models import FAMILY_MODELS
from protos import common_pb2 as pb
from workerd.anthropic.content import api_conversation, object_schema, tool_choice, tool_specs
from workerd.errors import UnservableRequest

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
    """The Messages API call for a request; UnservableRequest names what cannot be honoured."""
    system, messages = api_conversation(request, fetch_remote_images)
    max_tokens = request.max_tokens if request.HasField("max_tokens") else DEFAULT_MAX_TOKENS
    if max_tokens < 1:
        raise UnservableRequest("max_tokens must be at least 1", "max_tokens")
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
        tools = tool_specs(request)
        if tools:
            body["tools"] = tools
        choice = tool_choice(request, [tool["name"] for tool in tools])
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
        raise UnservableRequest(f"unknown reasoning effort {effort!r}", "reasoning_effort")
    if not reasoning.thinks(effort) or _after_tool_calls(messages):
        return ()
    _check_thinking_compatible(request)
    model = str(body["model"])
    if not model.startswith(BUDGET_MODELS):
        body["thinking"] = {"type": "adaptive"}
        if request.thinking_display:  # the client's `thinking.display` (summarized, omitted)
            body["thinking"]["display"] = request.thinking_display
        body["output_config"] = {"effort": effort}
        return (EFFORT_BETA,)
    budget = THINKING_BUDGETS[effort]
    if not explicit_max:
        body["max_tokens"] = int(body["max_tokens"]) + budget
    budget = min(budget, int(body["max_tokens"]) - 1)
    if budget < MIN_THINKING_BUDGET:
        raise UnservableRequest(
            f"with reasoning, max_tokens must be above {MIN_THINKING_BUDGET} on {model}",
            "max_tokens",
        )
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if request.thinking_display:
        body["thinking"]["display"] = request.thinking_display
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
        raise UnservableRequest("reasoning needs temperature 1 (or unset)", "temperature")
    if request.HasField("top_p") and request.top_p < 0.95:
        raise UnservableRequest("reasoning needs top_p of at least 0.95 (or unset)", "top_p")
    if request.response_format != pb.RESPONSE_FORMAT_TEXT:
        raise UnservableRequest(
            "reasoning cannot be combined with response_format json_object/json_schema in api "
            "mode (the answer is a forced tool call)",
            "response_format",
        )
    if request.tool_choice.mode in (pb.TOOL_CHOICE_REQUIRED, pb.TOOL_CHOICE_NAMED):
        raise UnservableRequest("reasoning cannot be combined with a forced tool", "tool_choice")


def _sampling(request: pb.ChatRequest) -> JSONDict:
    sampling: JSONDict = {}
    if request.HasField("temperature"):
        if request.temperature > 1:
            raise UnservableRequest(
                "temperature above 1 is not available from Claude (its range is 0 to 1)",
                "temperature",
            )
        sampling["temperature"] = round(request.temperature, 4)
    if request.HasField("top_p"):
        sampling["top_p"] = round(request.top_p, 4)
    return sampling


# --- response formats ------------------------------------------------------------------------


def _json_answer(request: pb.ChatRequest) -> JSONDict:
    """response_format as one forced tool whose input is the answer."""
    if request.tools:
        raise UnservableRequest(
            "response_format json_object/json_schema cannot be combined with tools in api mode",
            "response_format",
        )
    tool_choice(request, ())  # no tools of the client's: a choice that needs one is refused
    if request.response_format == pb.RESPONSE_FORMAT_JSON_SCHEMA:
        if not request.json_schema.strip():
            raise UnservableRequest("json_schema needs a schema", "response_format.json_schema")
        schema = object_schema(request.json_schema, "response_format.json_schema")
    elif request.response_format == pb.RESPONSE_FORMAT_JSON_OBJECT:
        schema = {"type": "object"}
    else:
        raise UnservableRequest("unknown response_format", "response_format")
    tool = {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION, "input_schema": schema}
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": JSON_TOOL}}
