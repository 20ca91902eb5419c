"""What a request may hold, the same at every door, pure: client JSON (the body and JSON held in
client strings), tool names, the length of the strings that travel over gRPC, the number of
messages.

Each rule is checked once, at the door, so a request the upstream (or a worker) would refuse, or
could not even carry, gets a 400 naming the field before anything reaches the controller.
"""

from __future__ import annotations

import json
import re

from common.json_limits import MAX_DEPTH, JsonLimitError, Path, parse
from frontdoor.core.errors import ApiError

ID_MAX = 256
"""Ids a client sends (tool call ids, previous_response_id): the upstream's are about 30
characters. They reach the controller and come back in error messages, whose gRPC trailer
has a size limit: an id of 16,000 characters failed the call as RESOURCE_EXHAUSTED."""
NAME_MAX = 256
"""A chat message's participant `name`, and other short labels."""
METADATA_PAIRS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 16, 64, 512
"""OpenAI's rule for a Responses request's `metadata`, which every response object echoes."""
SHOWN_PATH_PARTS = 8
"""A path into a value nested a hundred deep is named by its first parts."""

OPENAI_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_RULE_WORDS = {
    OPENAI_TOOL_NAME: "letters, digits, _ and -, 1 to 64 characters, as OpenAI's API requires",
    ANTHROPIC_TOOL_NAME: (
        "letters, digits, _ and -, 1 to 128 characters, as Anthropic's API requires"
    ),
}


def dotted(path: Path) -> str:
    """A path into a JSON value as `a.0.b` (its first parts only when it is very deep)."""
    parts = [str(part) for part in path]
    if len(parts) > SHOWN_PATH_PARTS:
        parts = [*parts[:SHOWN_PATH_PARTS], "..."]
    return ".".join(parts)


def parse_body(raw: bytes, interruptible: bool = False) -> object:
    """The request body as Python values; ApiError 400 for what is not JSON or is JSON outside
    the limits (common/json_limits.py), naming where in the body. `interruptible`: see
    json_limits.parse."""
    try:
        return parse(raw, interruptible=interruptible)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    except JsonLimitError as exc:
        param = dotted(exc.path) or None
        where = f"request body at {param}" if param else "request body"
        raise ApiError(400, f"{where}: {exc.reason}", param=param) from None


def json_arguments(text: str, param: str) -> None:
    """Tool-call arguments a client sends back in its history: empty, or a JSON object within
    the same limits as the body (the workers parse them, and the upstream takes an object);
    else ApiError 400 naming `param`."""
    if not text.strip():
        return
    try:
        value = parse(text, MAX_DEPTH)
    except json.JSONDecodeError as exc:
        message = f"tool call arguments are not valid JSON ({exc.msg} at position {exc.pos})"
        raise ApiError(400, message, param=param) from None
    except JsonLimitError as exc:
        inner = f" at {dotted(exc.path)}" if exc.path else ""
        raise ApiError(400, f"tool call arguments{inner}: {exc.reason}", param=param) from None
    if not isinstance(value, dict):
        raise ApiError(400, "tool call arguments must be a JSON object", param=param)


def tool_name(name: str, param: str, rule: re.Pattern[str] = OPENAI_TOOL_NAME) -> str:
    """`name` when the upstream takes it as a tool name, else ApiError 400 stating the rule."""
    if rule.fullmatch(name) is None:
        shown = name if len(name) <= 80 else name[:80] + "..."
        raise ApiError(
            400,
            f"tool name {shown!r} must match {rule.pattern} ({_RULE_WORDS[rule]})",
            param=param,
        )
    return name


def bounded(text: str, param: str, limit: int = ID_MAX) -> str:
    """A client string that travels over gRPC, at most `limit` characters, else ApiError 400."""
    if len(text) > limit:
        raise ApiError(400, f"{param} must be at most {limit} characters", param=param)
    return text


def metadata(pairs: dict[str, str] | None, param: str = "metadata") -> None:
    """A Responses request's metadata within OpenAI's limits (16 pairs, keys of at most 64
    characters, values of at most 512)."""
    if not pairs:
        return
    if len(pairs) > METADATA_PAIRS:
        raise ApiError(400, f"{param} holds at most {METADATA_PAIRS} pairs", param=param)
    for key, value in pairs.items():
        if len(key) > METADATA_KEY_MAX:
            message = f"{param} keys must be at most {METADATA_KEY_MAX} characters"
            raise ApiError(400, message, param=param)
        bounded(value, f"{param}.{key}", METADATA_VALUE_MAX)


def message_count(count: int, limit: int, param: str, counted: str = "") -> None:
    """At most `limit` messages in one request (MAX_MESSAGES), else ApiError 400 naming the
    setting: one huge request must not hold a worker for everyone. `counted` says what was
    counted when it is more than `param`'s items."""
    if count > limit:
        what = counted or f"{param} holds {count} messages"
        raise ApiError(
            400,
            f"{what}; this proxy takes at most {limit} messages in one request (its "
            "MAX_MESSAGES setting)",
            param=param,
        )
