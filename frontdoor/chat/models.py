"""Pydantic models of the OpenAI request at the HTTP edge; unknown fields are accepted, logged."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, StrictBool

from frontdoor.core.models import OpenAIBase

logger = logging.getLogger(__name__)


class ImageURL(OpenAIBase):
    url: str
    detail: str | None = None


class ContentPart(OpenAIBase):
    type: str
    text: str | None = None
    image_url: ImageURL | None = None


class FunctionCall(OpenAIBase):
    name: str
    arguments: str = ""


class ToolCall(OpenAIBase):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(OpenAIBase):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDef(OpenAIBase):
    name: str  # OpenAI's rule, checked in translate.py (frontdoor/core/limits.py)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(OpenAIBase):
    type: Literal["function"]
    function: FunctionDef


class StreamOptions(OpenAIBase):
    include_usage: StrictBool = False


class JsonSchemaFormat(OpenAIBase):
    name: str = "response"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(OpenAIBase):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class ChatCompletionRequest(OpenAIBase):
    """POST /v1/chat/completions body."""

    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    user: str | None = Field(default=None, max_length=256)
    logprobs: bool | None = None
    top_logprobs: int | None = None
    parallel_tool_calls: bool | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    reasoning_effort: str | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
