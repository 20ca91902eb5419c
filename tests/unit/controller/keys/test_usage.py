"""controller/keys/usage.py: each key's days and its day, week and month totals."""

from __future__ import annotations

import datetime

import pytest

from common.prices import cost_usd
from controller.keys.periods import day_of
from controller.keys.usage import KEPT_DAYS, Counts, UsageBook


def ts(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def tokens(n: int) -> Counts:
    return Counts(requests=1, input_tokens=n)


def test_a_request_counts_its_tokens_an_error_and_its_cost_on_api_workers_only() -> None:
    ok = Counts.of_request("ok", "api", "claude-sonnet-5", 1000, 200, 300, 400)
    assert (ok.requests, ok.errors, ok.tokens) == (1, 0, 1900)
    assert ok.cost_usd == pytest.approx(cost_usd("sonnet", 1000, 200, 400, 300))
    failed = Counts.of_request("UPSTREAM_ERROR", "cli", "opus", 10, 0, 0, 0)
    assert (failed.errors, failed.cost_usd) == (1, 0.0)
    shown = ok.to_pb()
    assert (shown.requests, shown.input_tokens, shown.cache_write_tokens) == (1, 1000, 400)


def test_periods_follow_the_clock_across_day_week_and_month_boundaries() -> None:
    book = UsageBook()
    sunday, monday = ts("2025-03-30T23:00:00"), ts("2025-03-31T01:00:00")
    april = ts("2025-04-01T00:30:00")
    book.add("k", day_of(sunday), tokens(100))
    assert book.period("k", "day", sunday).tokens == 100
    assert book.period("k", "week", sunday).tokens == 100
    book.add("k", day_of(monday), tokens(10))  # a new day and a new ISO week, same month
    assert book.period("k", "day", monday).tokens == 10
    assert book.period("k", "week", monday).tokens == 10
    assert book.period("k", "month", monday).tokens == 110
    book.add("k", day_of(april), tokens(1))  # a new month, the same week
    assert book.period("k", "month", april).tokens == 1
    assert book.period("k", "week", april).tokens == 11
    assert book.period("other", "week", april).tokens == 0


def test_a_total_in_use_grows_with_each_request() -> None:
    book = UsageBook()
    now = ts("2025-05-14T12:00:00")
    assert book.period("k", "month", now).tokens == 0  # kept from here on
    for _ in range(5):
        book.add("k", day_of(now), tokens(7))
    book.add("k", day_of(now) - 40, tokens(1000))  # an old day: not this month's
    assert book.period("k", "month", now).requests == 5
    assert book.period("k", "month", now).tokens == 35


def test_days_are_listed_oldest_first_and_old_ones_dropped() -> None:
    book = UsageBook()
    today = day_of(ts("2025-05-14T12:00:00"))
    for back in range(KEPT_DAYS + 10):
        book.add("k", today - back, tokens(1))
    days = [day for day, _ in book.days("k", today - 2)]
    assert days == [today - 2, today - 1, today]
    assert len(list(book.days("k", 0))) <= KEPT_DAYS + 7
