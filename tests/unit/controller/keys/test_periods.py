"""controller/keys/periods.py: UTC days, ISO weeks and calendar months, as budgets renew."""

from __future__ import annotations

import datetime

import pytest

from controller.keys.periods import bounds, day_from_name, day_name, day_of, iso_utc, renews_at


def ts(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


def test_days_are_utc_and_named_as_dates() -> None:
    assert day_name(day_of(ts("2025-03-09T23:59:59"))) == "2025-03-09"
    assert day_name(day_of(ts("2025-03-10T00:00:00"))) == "2025-03-10"
    assert day_from_name("2025-03-10") == day_of(ts("2025-03-10T12:00:00"))
    assert day_name(0) == "1970-01-01"


@pytest.mark.parametrize(
    ("now", "period", "renews"),
    [
        ("2025-03-09T23:59:59", "day", "2025-03-10T00:00:00"),
        ("2025-03-10T00:00:00", "day", "2025-03-11T00:00:00"),
        # 2025-03-09 is a Sunday: its week ends at Monday 00:00 UTC
        ("2025-03-09T23:59:59", "week", "2025-03-10T00:00:00"),
        ("2025-03-10T00:00:00", "week", "2025-03-17T00:00:00"),
        ("2025-01-31T12:00:00", "month", "2025-02-01T00:00:00"),
        ("2024-02-29T23:00:00", "month", "2024-03-01T00:00:00"),
        ("2025-12-31T23:59:59", "month", "2026-01-01T00:00:00"),
        ("2025-12-31T23:59:59", "week", "2026-01-05T00:00:00"),
    ],
)
def test_each_period_renews_at_the_start_of_the_next(now: str, period: str, renews: str) -> None:
    assert renews_at(period, ts(now)) == ts(renews)


def test_a_week_starts_on_monday_and_a_month_on_its_first_day() -> None:
    wednesday = day_of(ts("2025-01-01T10:00:00"))
    start, end = bounds("week", wednesday)
    assert day_name(start) == "2024-12-30" and end - start == 7
    start, end = bounds("month", wednesday)
    assert (day_name(start), day_name(end)) == ("2025-01-01", "2025-02-01")
    with pytest.raises(ValueError, match="no period"):
        bounds("year", wednesday)


def test_iso_utc() -> None:
    assert iso_utc(ts("2025-01-06T00:00:00")) == "2025-01-06T00:00:00Z"
