"""Pure: a key's per-minute limits as the response headers clients already read.

OpenAI doors: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as durations in
OpenAI's (Go's) format ("1s", "6m0s", "59ms"). The Messages door: Anthropic's
`anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, resets as RFC 3339 times. Only
the limits the key has (a limit of 0 is not configured) get headers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from protos import keys_pb2


def go_duration(ms: int) -> str:
    """A duration as OpenAI writes it (Go's time.Duration): "59ms", "1.5s", "6m0s", "1h2m3s"."""
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def rfc3339(unix_s: float) -> str:
    """A UTC time as Anthropic writes its resets: "2025-01-31T12:00:05Z" (whole seconds)."""
    return datetime.fromtimestamp(int(unix_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def openai_headers(limits: keys_pb2.KeyLimits) -> dict[str, str]:
    headers: dict[str, str] = {}
    if limits.limit_requests:
        headers["x-ratelimit-limit-requests"] = str(limits.limit_requests)
        headers["x-ratelimit-remaining-requests"] = str(max(limits.remaining_requests, 0))
        headers["x-ratelimit-reset-requests"] = go_duration(limits.reset_requests_ms)
    if limits.limit_tokens:
        headers["x-ratelimit-limit-tokens"] = str(limits.limit_tokens)
        headers["x-ratelimit-remaining-tokens"] = str(max(limits.remaining_tokens, 0))
        headers["x-ratelimit-reset-tokens"] = go_duration(limits.reset_tokens_ms)
    return headers


def anthropic_headers(limits: keys_pb2.KeyLimits, now: float) -> dict[str, str]:
    headers: dict[str, str] = {}
    if limits.limit_requests:
        headers["anthropic-ratelimit-requests-limit"] = str(limits.limit_requests)
        headers["anthropic-ratelimit-requests-remaining"] = str(max(limits.remaining_requests, 0))
        reset = now + max(limits.reset_requests_ms, 0) / 1000
        headers["anthropic-ratelimit-requests-reset"] = rfc3339(reset + 0.999)  # rounded up
    if limits.limit_tokens:
        headers["anthropic-ratelimit-tokens-limit"] = str(limits.limit_tokens)
        headers["anthropic-ratelimit-tokens-remaining"] = str(max(limits.remaining_tokens, 0))
        reset = now + max(limits.reset_tokens_ms, 0) / 1000
        headers["anthropic-ratelimit-tokens-reset"] = rfc3339(reset + 0.999)
    return headers


def limit_headers(
    limits: keys_pb2.KeyLimits | None, anthropic: bool, now: float | None = None
) -> dict[str, str]:
    """The headers for `limits` in the door's flavour (none when there are none)."""
    if limits is None or not (limits.limit_requests or limits.limit_tokens):
        return {}
    if anthropic:
        return anthropic_headers(limits, time.time() if now is None else now)
    return openai_headers(limits)
