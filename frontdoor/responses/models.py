"""Pydantic models of the OpenAI Responses API request (POST /v1/responses) at the HTTP edge.

Unknown fields are accepted and logged (OpenAIBase); what needs the whole request to judge
(item shapes, tool types, formats) is checked in responses/translate.py."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool

from frontdoor.core.limits import ID_MAX
from frontdoor.core.models import OpenAIBase


class InputPart(OpenAIBase):
    """input_text / output_text / input_image (others are refused in the translation)."""

    type: str
    text: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class FunctionTool(OpenAIBase):
    """A tool of any type: function, custom (freeform, with its `format`), namespace (a group
    of `tools`), or one the provider runs (web_search and the like: left out, see
    responses/tools.py)."""

    type: str
    name: str | None = None  # OpenAI's rule, checked in tools.py (frontdoor/core/limits.py)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    format: dict[str, Any] | None = None
    tools: list[FunctionTool] | None = None


class InputItem(OpenAIBase):
    """One `input` item: a message (type "message" or absent), function_call (of a namespace
    member when `namespace` is set), function_call_output, custom_tool_call (its `input` text),
    custom_tool_call_output, reasoning (skipped: this proxy never hands out encrypted content),
    or additional_tools (`tools` declared in the input, as the Codex CLI's "responses lite"
    models send them: they join the request's tools)."""

    type: str | None = None
    role: str | None = None
    content: str | list[InputPart] | None = None
    call_id: str | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None
    input: str | None = None
    output: str | list[InputPart] | None = None
    id: str | None = None
    status: str | None = None
    tools: list[FunctionTool] | None = None


class TextFormat(OpenAIBase):
    type: str
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class TextConfig(OpenAIBase):
    format: TextFormat | None = None
    verbosity: str | None = None


class Reasoning(OpenAIBase):
    effort: str | None = None
    summary: str | None = None


class ResponsesRequest(OpenAIBase):
    """POST /v1/responses body."""

    model: str = Field(min_length=1, max_length=200)
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    metadata: dict[str, str] | None = None
    stream: StrictBool = False
    store: bool | None = None
    previous_response_id: str | None = Field(default=None, max_length=ID_MAX)
    user: str | None = Field(default=None, max_length=256)
    # Accepted and without effect here (the Codex CLI sends the first three on every turn):
    # nothing encrypted is handed out, caching is the upstream's own, metadata is the client's.
    include: list[str] | None = None
    prompt_cache_key: str | None = None
    client_metadata: dict[str, Any] | None = None
    service_tier: str | None = None
    truncation: str | None = None
    safety_identifier: str | None = None

    def all_tools(self) -> list[dict[str, Any]]:
        """`tools`, then those declared by additional_tools input items, as plain dicts."""
        declared = list(self.tools or ())
        if isinstance(self.input, list):
            for item in self.input:
                if item.type == "additional_tools":
                    declared += item.tools or ()
        return [tool.model_dump(by_alias=True, exclude_none=True) for tool in declared]
