"""A key's per-minute limits as headers: OpenAI's names and durations, Anthropic's names and
RFC 3339 times, only for the limits the key has."""

from __future__ import annotations

import pytest

from frontdoor.core.limit_headers import go_duration, limit_headers, rfc3339
from protos import keys_pb2

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z

BOTH = keys_pb2.KeyLimits(
    limit_requests=60,
    remaining_requests=59,
    reset_requests_ms=1000,
    limit_tokens=150_000,
    remaining_tokens=149_000,
    reset_tokens_ms=360_000,
)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (1, "1ms"),
        (59, "59ms"),
        (999, "999ms"),
        (1000, "1s"),
        (1500, "1.5s"),
        (7660, "7.66s"),
        (59_999, "59.999s"),
        (60_000, "1m0s"),
        (360_000, "6m0s"),
        (179_560, "2m59.56s"),
        (3_600_000, "1h0m0s"),
        (3_723_000, "1h2m3s"),
    ],
)
def test_durations_read_as_openai_writes_them(ms: int, text: str) -> None:
    assert go_duration(ms) == text


def test_openai_headers() -> None:
    assert limit_headers(BOTH, anthropic=False) == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149000",
        "x-ratelimit-reset-tokens": "6m0s",
    }


def test_anthropic_headers() -> None:
    assert limit_headers(BOTH, anthropic=True, now=NOW) == {
        "anthropic-ratelimit-requests-limit": "60",
        "anthropic-ratelimit-requests-remaining": "59",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:01Z",
        "anthropic-ratelimit-tokens-limit": "150000",
        "anthropic-ratelimit-tokens-remaining": "149000",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T00:06:00Z",
    }


def test_only_the_configured_limits_get_headers() -> None:
    tokens_only = keys_pb2.KeyLimits(limit_tokens=1000, remaining_tokens=-3, reset_tokens_ms=59)
    assert limit_headers(tokens_only, anthropic=False) == {
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "0",  # never below zero
        "x-ratelimit-reset-tokens": "59ms",
    }
    assert set(limit_headers(tokens_only, anthropic=True, now=NOW)) == {
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
    }
    assert limit_headers(keys_pb2.KeyLimits(), anthropic=False) == {}
    assert limit_headers(None, anthropic=True) == {}


def test_a_reset_part_way_through_a_second_is_rounded_up() -> None:
    limits = keys_pb2.KeyLimits(limit_requests=5, reset_requests_ms=1)
    headers = limit_headers(limits, anthropic=True, now=NOW + 0.5)
    assert headers["anthropic-ratelimit-requests-reset"] == "2026-01-01T00:00:01Z"
    assert rfc3339(NOW) == "2026-01-01T00:00:00Z"
