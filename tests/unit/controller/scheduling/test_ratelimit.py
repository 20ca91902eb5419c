"""controller/scheduling/ratelimit.py: sliding 60 s windows of requests and tokens per
(worker, family)."""

from __future__ import annotations

import json

import pytest

from common.config import ConfigError
from controller.scheduling.ratelimit import (
    DEFAULT_LIMITS,
    WINDOW_S,
    Limit,
    RateLimiter,
    RateWindow,
    estimate_tokens,
    limits_from_env,
)


def _window(rpm: int = 1000, tpm: int = 10**9) -> RateWindow:
    return RateWindow(Limit(rpm=rpm, tpm=tpm))


# -- requests per minute -----------------------------------------------------------------------


def test_window_is_sixty_seconds() -> None:
    assert WINDOW_S == 60.0


def test_empty_window_admits() -> None:
    assert _window(rpm=1, tpm=1).wait_s(1, 0.0) == 0.0


def test_rpm_limit_waits_for_the_oldest_use_to_leave() -> None:
    window = _window(rpm=2)
    window.record("r1", 1, 100.0)
    assert window.wait_s(1, 101.0) == 0.0
    window.record("r2", 1, 110.0)
    assert window.wait_s(1, 120.0) == pytest.approx(40.0)  # r1 leaves at 160
    assert window.wait_s(1, 159.5) == pytest.approx(0.5)
    assert window.wait_s(1, 160.0) == 0.0  # exactly 60 s later r1 has left
    window.record("r3", 1, 160.0)
    assert window.wait_s(1, 160.0) == pytest.approx(10.0)  # now r2 (110) is the oldest


def test_one_request_per_minute() -> None:
    window = _window(rpm=1)
    window.record("r1", 1, 0.0)
    assert window.wait_s(1, 0.0) == pytest.approx(60.0)
    assert window.wait_s(1, 59.999) == pytest.approx(0.001)
    assert window.wait_s(1, 60.0) == 0.0


# -- tokens per minute -------------------------------------------------------------------------


def test_tpm_limit_waits_until_enough_tokens_leave() -> None:
    window = _window(tpm=100)
    window.record("r1", 60, 0.0)
    window.record("r2", 30, 10.0)
    assert window.wait_s(10, 15.0) == 0.0  # 90 + 10 = 100 fits exactly
    assert window.wait_s(11, 15.0) == pytest.approx(45.0)  # after r1 (at 0) leaves
    assert window.wait_s(75, 15.0) == pytest.approx(55.0)  # needs r1 and r2 gone
    assert window.wait_s(11, 60.0) == 0.0


def test_lone_large_request_fits_an_empty_window() -> None:
    window = _window(tpm=100)
    assert window.wait_s(10_000, 0.0) == 0.0
    window.record("big", 10_000, 0.0)
    assert window.usage(0.0) == (1, 10_000)
    assert window.wait_s(1, 30.0) == pytest.approx(30.0)
    assert window.wait_s(1, 60.0) == 0.0


def test_large_request_waits_until_the_window_is_empty() -> None:
    window = _window(tpm=100)
    window.record("r1", 5, 0.0)
    window.record("r2", 5, 20.0)
    assert window.wait_s(500, 30.0) == pytest.approx(50.0)  # until r2 (at 20) leaves
    assert window.wait_s(500, 80.0) == 0.0


def test_wait_covers_both_limits() -> None:
    """The wait is until the request fits both limits, not just the request count.

    rpm=2 is full (uses at 0 and 10), and once the first use leaves at 60 the second
    still holds 90 of 100 tokens, so a 50-token request fits only at 70.
    """
    window = _window(rpm=2, tpm=100)
    window.record("r1", 5, 0.0)
    window.record("r2", 90, 10.0)
    assert window.wait_s(50, 20.0) == pytest.approx(50.0)
    assert window.wait_s(50, 60.0) == pytest.approx(10.0)
    assert window.wait_s(50, 70.0) == 0.0


# -- corrections and sliding -------------------------------------------------------------------


def test_correct_replaces_the_estimate_and_changes_later_decisions() -> None:
    window = _window(tpm=100)
    window.record("r1", 10, 0.0)
    assert window.wait_s(80, 1.0) == 0.0
    window.correct("r1", 95)  # the real usage was much larger
    assert window.usage(1.0) == (1, 95)
    assert window.wait_s(80, 1.0) == pytest.approx(59.0)
    window.correct("r1", 5)  # and smaller again
    assert window.wait_s(95, 1.0) == 0.0


def test_correct_touches_only_the_named_request() -> None:
    window = _window()
    window.record("r1", 10, 0.0)
    window.record("r2", 20, 1.0)
    window.correct("r2", 7)
    window.correct("unknown", 1000)
    assert window.usage(2.0) == (2, 17)


def test_correct_after_the_use_left_the_window_is_harmless() -> None:
    window = _window(tpm=100)
    window.record("r1", 10, 0.0)
    assert window.usage(61.0) == (0, 0)
    window.correct("r1", 10_000)
    assert window.usage(61.0) == (0, 0)
    assert window.wait_s(100, 61.0) == 0.0


def test_correct_names_the_newest_use_even_after_an_older_one_left() -> None:
    window = _window(tpm=100)
    window.record("r1", 10, 0.0)
    window.record("r1", 20, 30.0)  # the same id again: the newest use is the one corrected
    window.correct("r1", 30)
    assert window.usage(31.0) == (2, 40)
    assert window.usage(61.0) == (1, 30)  # the older use left; the newer is still known
    window.correct("r1", 5)
    assert window.usage(61.0) == (1, 5)


def test_window_slides() -> None:
    window = _window(rpm=3, tpm=1000)
    for at in (0.0, 20.0, 40.0):
        window.record(f"r{at}", 100, at)
    assert window.usage(40.0) == (3, 300)
    assert window.usage(59.999) == (3, 300)
    assert window.usage(60.0) == (2, 200)
    assert window.usage(80.0) == (1, 100)
    assert window.usage(100.0) == (0, 0)
    assert window.wait_s(1000, 100.0) == 0.0


# -- RateLimiter -------------------------------------------------------------------------------


def test_limiter_keeps_one_window_per_worker_and_family() -> None:
    limiter = RateLimiter({"sonnet": Limit(1, 1000), "other": Limit(5, 5000)})
    window = limiter.window("1", "sonnet")
    assert limiter.window("1", "sonnet") is window
    window.record("r1", 10, 0.0)
    assert limiter.window("1", "sonnet").wait_s(1, 1.0) > 0
    # Another account, or another family on the same account, is unaffected.
    assert limiter.window("2", "sonnet").wait_s(1, 1.0) == 0.0
    assert limiter.window("1", "haiku").wait_s(1, 1.0) == 0.0


def test_limiter_uses_the_family_limit_else_other() -> None:
    limits = {"sonnet": Limit(1, 1000), "other": Limit(5, 5000)}
    limiter = RateLimiter(limits)
    assert limiter.window("1", "sonnet").limit == Limit(1, 1000)
    assert limiter.window("1", "mystery").limit == Limit(5, 5000)


def test_limiter_usage_reports_every_window() -> None:
    limiter = RateLimiter(dict(DEFAULT_LIMITS))
    limiter.window("1", "sonnet").record("r1", 10, 0.0)
    limiter.window("1", "sonnet").record("r2", 20, 1.0)
    limiter.window("2", "opus").record("r3", 5, 2.0)
    assert limiter.usage(3.0) == {("1", "sonnet"): (2, 30), ("2", "opus"): (1, 5)}
    assert limiter.usage(61.5) == {("1", "sonnet"): (0, 0), ("2", "opus"): (1, 5)}


def test_default_limits_cover_every_family() -> None:
    assert set(DEFAULT_LIMITS) >= {"opus", "sonnet", "haiku", "other"}
    assert all(limit.rpm > 0 and limit.tpm > 0 for limit in DEFAULT_LIMITS.values())


# -- RATE_LIMITS -------------------------------------------------------------------------------


def _env(value: object) -> dict[str, str]:
    return {"RATE_LIMITS": value if isinstance(value, str) else json.dumps(value)}


def test_no_rate_limits_gives_the_defaults() -> None:
    assert limits_from_env({}) == DEFAULT_LIMITS
    assert limits_from_env({"RATE_LIMITS": "  "}) == DEFAULT_LIMITS
    limits = limits_from_env({})
    limits["sonnet"] = Limit(1, 1)
    assert DEFAULT_LIMITS["sonnet"] != Limit(1, 1)  # a copy, not the module's table


def test_rate_limits_override_per_family() -> None:
    limits = limits_from_env(_env({"sonnet": {"rpm": 5, "tpm": 5000}}))
    assert limits["sonnet"] == Limit(5, 5000)
    assert limits["opus"] == DEFAULT_LIMITS["opus"]


def test_rate_limits_partial_override_keeps_the_other_field() -> None:
    limits = limits_from_env(_env({"opus": {"rpm": 3}, "haiku": {"tpm": 7}}))
    assert limits["opus"] == Limit(3, DEFAULT_LIMITS["opus"].tpm)
    assert limits["haiku"] == Limit(DEFAULT_LIMITS["haiku"].rpm, 7)


def test_rate_limits_new_family_starts_from_other() -> None:
    limits = limits_from_env(_env({"custom": {"rpm": 2}}))
    assert limits["custom"] == Limit(2, DEFAULT_LIMITS["other"].tpm)


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[1, 2]",
        '"sonnet"',
        {"sonnet": 5},
        {"sonnet": [5, 5]},
        {"sonnet": {"rpm": 0}},
        {"sonnet": {"rpm": -1}},
        {"sonnet": {"tpm": 0}},
        {"sonnet": {"rpm": "10"}},
        {"sonnet": {"rpm": 1.5}},
        {"sonnet": {"rpm": True}},
        {"sonnet": {"tpm": None}},
    ],
)
def test_invalid_rate_limits_name_the_variable(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        limits_from_env(_env(value))
    assert info.value.variable == "RATE_LIMITS"
    assert "RATE_LIMITS" in str(info.value)


def test_invalid_family_entry_names_the_family() -> None:
    with pytest.raises(ConfigError) as info:
        limits_from_env(_env({"opus": {"rpm": 0}}))
    assert "opus" in info.value.problem


# -- estimate_tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chars", "tokens"), [(0, 1), (1, 1), (3, 1), (4, 1), (7, 1), (8, 2), (400, 100)]
)
def test_estimate_tokens_is_about_four_characters_each_never_zero(chars: int, tokens: int) -> None:
    assert estimate_tokens(chars) == tokens
