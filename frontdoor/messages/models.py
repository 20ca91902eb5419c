"""Pydantic models of the Anthropic Messages API request; unknown fields are accepted and
logged, at every depth (`ignored_fields` names them by their path)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from frontdoor.core.limits import ID_MAX
from frontdoor.core.models import CacheControl


class AnthropicBase(BaseModel):
    """Accepts fields we do not model (citations, ...), so new clients work."""

    model_config = ConfigDict(extra="allow")

    def ignored_fields(self) -> list[str]:
        """The fields not modelled here, anywhere in the body ("messages.0.content.1.citations")."""
        found = [str(name) for name in self.model_extra or {}]
        for name in type(self).model_fields:
            found += [f"{name}.{path}" for path in _ignored_in(getattr(self, name))]
        return sorted(found)


def _ignored_in(value: object) -> list[str]:
    if isinstance(value, AnthropicBase):
        return value.ignored_fields()
    if isinstance(value, list):
        return [f"{n}.{path}" for n, item in enumerate(value) for path in _ignored_in(item)]
    return []


class TextBlock(AnthropicBase):
    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None


class Base64Source(AnthropicBase):
    type: Literal["base64"]
    media_type: str
    data: str


class URLSource(AnthropicBase):
    type: Literal["url"]
    url: str


class ImageBlock(AnthropicBase):
    type: Literal["image"]
    source: Annotated[Base64Source | URLSource, Field(discriminator="type")]
    cache_control: CacheControl | None = None


class ToolUseBlock(AnthropicBase):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=ID_MAX)
    name: str  # Anthropic's rule, checked in translate.py (frontdoor/core/limits.py)
    input: dict[str, Any]
    cache_control: CacheControl | None = None


ToolResultPart = Annotated[TextBlock | ImageBlock, Field(discriminator="type")]


class ToolResultBlock(AnthropicBase):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=ID_MAX)
    content: str | list[ToolResultPart] | None = None
    is_error: StrictBool = False
    cache_control: CacheControl | None = None


class ThinkingBlock(AnthropicBase):
    """In assistant turns, passed on with its signature (api workers send it back upstream)."""

    type: Literal["thinking"]
    thinking: str = ""
    signature: str = ""


class RedactedThinkingBlock(AnthropicBase):
    """Thinking the upstream withheld: opaque, passed back as is (api workers)."""

    type: Literal["redacted_thinking"]
    data: str = Field(min_length=1)


ContentBlock = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock,
    Field(discriminator="type"),
]


class Message(AnthropicBase):
    role: Literal["user", "assistant", "system"]  # system: text only, joins the system prompt
    content: str | list[ContentBlock]


class Tool(AnthropicBase):
    """A client tool; a server tool (a `type` such as web_search_20250305) is refused later."""

    type: str | None = None
    name: str  # Anthropic's rule, checked in translate.py (frontdoor/core/limits.py)
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: CacheControl | None = None


class ToolChoice(AnthropicBase):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: StrictBool | None = None


class ThinkingConfig(AnthropicBase):
    type: Literal["enabled", "adaptive", "disabled"]
    budget_tokens: int | None = Field(default=None, ge=1)
    display: str | None = Field(default=None, max_length=40)  # summarized, omitted, ...


class OutputFormat(AnthropicBase):
    """Structured outputs: the answer is JSON matching `schema` (as response_format json_schema)."""

    type: Literal["json_schema"]
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class OutputConfig(AnthropicBase):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: OutputFormat | None = None


class Metadata(AnthropicBase):
    user_id: str | None = Field(default=None, max_length=256)


class CountTokensRequest(AnthropicBase):
    """POST /v1/messages/count_tokens body: a message request without max_tokens."""

    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None


class MessagesRequest(CountTokensRequest):
    """POST /v1/messages body."""

    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    metadata: Metadata | None = None
    stream: StrictBool = False
