"""controller/scheduling/rests.py: a 429 rests for what the upstream said, labelled as it was."""

from __future__ import annotations

import pytest

from controller.events.bus import EventBus
from controller.scheduling.rests import AccountRests
from protos import common_pb2 as pb

NOW = 1_800_000_000.0


def rests() -> AccountRests:
    return AccountRests(["w"], EventBus(), lambda: NOW)


def test_a_rate_limit_rests_for_its_retry_after_as_a_rate_limit() -> None:
    book = rests()
    book.note_refusal("w", pb.Error(code=pb.RATE_LIMITED, retry_after_ms=1000))
    state = book.cooldowns.of("w")
    assert (state.until - NOW, state.reason, state.basis) == (1.0, "rate limited", "retry_after")


def test_a_refused_usage_window_rests_until_its_reset() -> None:
    book = rests()
    window = pb.QuotaWindow(
        window="five_hour", status="rejected", utilization=1.0, utilization_known=True,
        resets_at=int(NOW) + 1800,
    )  # fmt: skip
    book.note_quota("w", pb.RateLimitStatus(status="rejected", windows=[window]))
    book.note_refusal("w", pb.Error(code=pb.RATE_LIMITED, retry_after_ms=1000))
    state = book.cooldowns.of("w")
    assert state.until - NOW == pytest.approx(1800)
    assert (state.reason, state.basis) == ("usage limit reached", "reset")


def test_a_rate_limit_with_nothing_said_is_an_estimate() -> None:
    book = rests()
    book.note_refusal("w", pb.Error(code=pb.RATE_LIMITED))
    state = book.cooldowns.of("w")
    assert (state.reason, state.basis) == ("rate limited", "estimate")
