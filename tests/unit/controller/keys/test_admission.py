"""controller/keys/admission.py: the decisions on a request made with a key, and the answers."""

from __future__ import annotations

import datetime

import pytest

from controller.keys.admission import (
    access_refusal,
    budget_refusal,
    budget_states,
    key_limits,
    pool_refusal,
    rate_refusal,
    rate_window,
)
from controller.keys.periods import day_of
from controller.keys.record import KeyRecord
from controller.keys.usage import Counts, UsageBook
from protos import common_pb2 as pb
from protos import keys_pb2


def ts(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def key(for_owner: bool = True, revoked_at: float = 0.0, **policy: object) -> KeyRecord:
    return KeyRecord(
        "key_0123456789ab",
        "ci",
        "client",
        for_owner,
        keys_pb2.KeyPolicy(**policy),  # type: ignore[arg-type]
        "0" * 64,
        "sk-ccp-abcd",
        1.0,
        revoked_at,
    )


NOW = ts("2025-03-12T15:00:00")  # a Wednesday


# -- who and what --------------------------------------------------------------------------------


def test_unknown_revoked_and_expired_keys_are_denied() -> None:
    unknown = access_refusal(None, "key_gone", "sonnet", NOW)
    assert unknown is not None and unknown.code == pb.PERMISSION_DENIED
    assert "unknown key 'key_gone'" in unknown.message
    revoked = access_refusal(key(revoked_at=NOW - 5), "", "sonnet", NOW)
    assert revoked is not None and "the key 'ci' is revoked" in revoked.message
    expired = access_refusal(key(expires_at=ts("2025-03-12T14:00:00")), "", "sonnet", NOW)
    assert expired is not None and expired.code == pb.PERMISSION_DENIED
    assert "expired at 2025-03-12T14:00:00Z" in expired.message
    assert access_refusal(key(expires_at=NOW + 1), "", "sonnet", NOW) is None


def test_a_family_outside_the_policy_is_denied_naming_what_is_allowed() -> None:
    refused = access_refusal(key(models=["sonnet", "haiku"]), "", "opus", NOW)
    assert refused is not None and refused.code == pb.PERMISSION_DENIED
    assert refused.message == (
        "the key 'ci' may not use opus models (its policy `models` allows: sonnet, haiku)"
    )
    assert access_refusal(key(models=["sonnet"]), "", "sonnet", NOW) is None
    assert access_refusal(key(), "", "opus", NOW) is None  # no list: every family


def test_pools_must_reach_a_configured_worker() -> None:
    api_only = key(pools=["api"])
    refused = pool_refusal(api_only, {"cli", "agent"})
    assert refused is not None and refused.code == pb.PERMISSION_DENIED
    assert "may use the pools api only" in refused.message
    assert pool_refusal(api_only, {"cli", "api"}) is None
    assert pool_refusal(key(pools=["cli"]), {"agent"}) is None  # agent workers are the cli pool
    assert pool_refusal(key(for_owner=False), {"cli"}) is not None  # another person: api only


# -- budgets -------------------------------------------------------------------------------------


def spent(book: UsageBook, when: float, tokens: int, cost: float = 0.0) -> None:
    book.add("key_0123456789ab", day_of(when), Counts(1, tokens, 0, 0, 0, 0, cost))


def test_a_spent_daily_budget_is_refused_until_midnight_utc() -> None:
    book = UsageBook()
    record = key(daily_tokens=1000)
    spent(book, NOW - 3600, 999)
    assert budget_refusal(record, book, NOW) is None  # one token left: the next request runs
    spent(book, NOW - 60, 50)  # that request overspent: it finished all the same
    refused = budget_refusal(record, book, NOW)
    assert refused is not None and refused.code == pb.QUOTA_EXHAUSTED
    assert refused.message == (
        "the key 'ci' has spent its daily token budget (1,000 tokens: 1,049 used); it renews "
        "at 2025-03-13T00:00:00Z"
    )
    assert refused.retry_after_ms == int((ts("2025-03-13T00:00:00") - NOW) * 1000)
    assert budget_refusal(record, book, ts("2025-03-13T00:00:00")) is None  # a new day


def test_a_weekly_budget_renews_on_monday_across_the_month() -> None:
    book = UsageBook()
    record = key(weekly_tokens=100)
    friday = ts("2025-02-28T10:00:00")
    spent(book, friday, 100)
    refused = budget_refusal(record, book, ts("2025-03-02T23:00:00"))  # Sunday, a new month
    assert refused is not None and "renews at 2025-03-03T00:00:00Z" in refused.message
    assert budget_refusal(record, book, ts("2025-03-03T00:00:00")) is None


def test_when_several_budgets_are_spent_the_last_to_renew_binds() -> None:
    book = UsageBook()
    record = key(daily_tokens=10, monthly_tokens=10)
    spent(book, NOW, 10)
    refused = budget_refusal(record, book, NOW)
    assert refused is not None and "monthly token budget" in refused.message
    assert "2025-04-01T00:00:00Z" in refused.message


def test_the_cost_budget_counts_estimated_dollars() -> None:
    book = UsageBook()
    record = key(monthly_cost_usd=5.0)
    spent(book, NOW, 10, cost=4.99)
    assert budget_refusal(record, book, NOW) is None
    spent(book, NOW, 10, cost=0.02)
    refused = budget_refusal(record, book, NOW)
    assert refused is not None
    assert "monthly cost budget ($5.00, estimated: $5.01 used)" in refused.message


def test_budget_states_show_limit_used_remaining_and_renewal() -> None:
    book = UsageBook()
    spent(book, NOW, 1500)
    states = budget_states(key(daily_tokens=1000, weekly_tokens=5000), book, NOW)
    assert [(s.period, s.unit, s.limit, s.used, s.remaining) for s in states] == [
        ("day", "tokens", 1000, 1500, 0),
        ("week", "tokens", 5000, 1500, 3500),
    ]
    assert states[1].renews_at == ts("2025-03-17T00:00:00")
    assert budget_states(key(), book, NOW) == []


# -- requests and tokens per minute ----------------------------------------------------------------


def test_rpm_refuses_the_request_over_the_limit_with_the_header_figures() -> None:
    record = key(rpm=2)
    window = rate_window(record)
    for n in range(2):
        assert rate_refusal(record, window, 10, 100.0 + n) is None
        window.record(f"r{n}", 10, 100.0 + n)
    refused = rate_refusal(record, window, 10, 110.0)
    assert refused is not None and refused.code == pb.RATE_LIMITED
    assert "over its rate limit (2 requests per minute); retry in 50.0 s" in refused.message
    assert refused.retry_after_ms == 50_000
    assert refused.limits == keys_pb2.KeyLimits(
        limit_requests=2, remaining_requests=0, reset_requests_ms=51_000
    )  # no tpm set: its figures stay 0 (not configured)
    event = refused.event()
    assert event.error.code == pb.RATE_LIMITED and event.error.key_limits.limit_requests == 2
    assert rate_refusal(record, window, 10, 160.0) is None  # the first use left the window


def test_tpm_counts_tokens_and_names_the_limit() -> None:
    record = key(tpm=1000, rpm=100)
    window = rate_window(record)
    window.record("r1", 900, 0.0)
    refused = rate_refusal(record, window, 200, 30.0)
    assert refused is not None and "1,000 tokens per minute" in refused.message
    limits = key_limits(record, window, 30.0)
    assert (limits.limit_tokens, limits.remaining_tokens, limits.reset_tokens_ms) == (
        1000,
        100,
        30_000,
    )
    assert (limits.limit_requests, limits.remaining_requests) == (100, 99)
    window.correct("r1", 100)  # it used less than estimated
    assert rate_refusal(record, window, 200, 30.0) is None


@pytest.mark.parametrize("tokens", [1, 10_000_000])
def test_no_per_minute_limit_never_refuses(tokens: int) -> None:
    record = key(daily_tokens=10**12)
    window = rate_window(record)
    for n in range(500):
        window.record(f"r{n}", tokens, 1.0)
    assert rate_refusal(record, window, tokens, 2.0) is None
    assert key_limits(record, window, 2.0) == keys_pb2.KeyLimits()
