"""Pydantic pieces more than one door's request models use: the base and `cache_control`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class OpenAIBase(BaseModel):
    """Accepts fields we do not model, so new client versions keep working."""

    model_config = ConfigDict(extra="allow")

    def ignored_fields(self) -> list[str]:
        return sorted((self.model_extra or {}).keys())


# NOTE: Anthropic's shape, here because the chat door reads it too (OpenRouter-style content
# parts); OpenAIBase is the same extra-allowing base as the Messages door's AnthropicBase.
class CacheControl(OpenAIBase):
    """A prompt-cache breakpoint: `ephemeral`, living 5 minutes (the default) or 1 hour."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None
