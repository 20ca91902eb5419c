"""A worker's `param` in the client API's own names.

Workers name the neutral request's fields (the ChatRequest's: `messages[3].content[1]`,
`max_tokens`, `reasoning_effort`, `response_format`); the chat completions door shares those
names, the other doors do not. A ParamMap, filled while a door translates its request, knows
which client item each neutral message came from and what the door calls each field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from frontdoor.core.errors import ApiError

_MESSAGE = re.compile(r"^messages\[(\d+)\](.*)$")
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass
class ParamMap:
    item: Callable[[int], str]  # a client item's path, e.g. input[3] or messages.3
    fields: dict[str, str] = field(default_factory=dict)  # neutral field -> the door's name
    dotted: bool = False  # sub-paths as .content.1 (Anthropic) rather than .content[1]
    origins: list[int | str] = field(default_factory=list)  # per neutral message

    def note(self, origin: int | str, count: int = 1) -> None:
        """`count` neutral messages came from client item `origin`, or from the field named
        by a string (system, instructions, previous_response_id)."""
        self.origins.extend([origin] * count)

    def client(self, param: str) -> str:
        match = _MESSAGE.match(param)
        if match is None:
            return self.fields.get(param, param)
        index, rest = int(match.group(1)), match.group(2)
        if index >= len(self.origins):
            return param
        origin = self.origins[index]
        if isinstance(origin, str):
            return origin
        if self.dotted:
            rest = _INDEX.sub(r".\1", rest)
        return self.item(origin) + rest

    def rename(self, error: ApiError) -> None:
        if error.param:
            error.param = self.client(error.param)
