"""Failed authentication back-off per address, on an injected clock."""

from __future__ import annotations

from frontdoor.auth.backoff import FailedAttempts


def fail(attempts: FailedAttempts, address: str, times: int, at: float, step: float = 1.0) -> float:
    for n in range(times):
        attempts.failed(address, at + n * step)
    return at + (times - 1) * step


def test_ten_failures_within_a_minute_block_the_address_for_thirty_seconds() -> None:
    attempts = FailedAttempts()
    last = fail(attempts, "10.0.0.1", 9, 0.0)
    assert attempts.blocked_for("10.0.0.1", last) == 0  # nine: still allowed
    attempts.failed("10.0.0.1", last + 1)
    assert attempts.blocked_for("10.0.0.1", last + 1) == 30.0
    assert attempts.blocked_for("10.0.0.1", last + 30.5) == 0.5
    assert attempts.blocked_for("10.0.0.1", last + 31) == 0


def test_failures_spread_over_more_than_a_minute_do_not_block() -> None:
    attempts = FailedAttempts()
    last = fail(attempts, "10.0.0.1", 30, 0.0, step=7.0)  # at most nine in any 60 s
    assert attempts.blocked_for("10.0.0.1", last) == 0


def test_other_addresses_are_not_blocked() -> None:
    attempts = FailedAttempts()
    last = fail(attempts, "10.0.0.1", 10, 0.0)
    assert attempts.blocked_for("10.0.0.1", last) > 0
    assert attempts.blocked_for("10.0.0.2", last) == 0


def test_after_a_block_the_count_starts_again() -> None:
    attempts = FailedAttempts()
    last = fail(attempts, "a", 10, 0.0)
    after = last + 31
    attempts.failed("a", after)
    assert attempts.blocked_for("a", after) == 0  # one failure after the block, not eleven


def test_the_map_is_bounded_and_forgets_the_least_recent_first() -> None:
    attempts = FailedAttempts(max_addresses=3)
    fail(attempts, "old", 10, 0.0)
    for n, address in enumerate(("b", "c", "d")):
        attempts.failed(address, 20.0 + n)
    assert len(attempts) == 3
    assert attempts.blocked_for("old", 21.0) == 0  # forgotten: the three most recent are kept
