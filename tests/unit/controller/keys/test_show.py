"""controller/keys/show.py: the key tool's reading of flags and its lines."""

from __future__ import annotations

import datetime

import pytest

from controller.keys.show import BadValue, budget_text, parse_expiry, policy_text
from protos import keys_pb2

NOW = 1_750_000_000.0


@pytest.mark.parametrize(
    ("text", "after_s"), [("30d", 30 * 86_400), ("12h", 43_200), ("90m", 5_400), ("2w", 1_209_600)]
)
def test_durations_count_from_now(text: str, after_s: int) -> None:
    assert parse_expiry(text, NOW) == NOW + after_s


def test_dates_are_utc_unless_they_say() -> None:
    midnight = datetime.datetime(2026, 1, 31, tzinfo=datetime.UTC).timestamp()
    assert parse_expiry("2026-01-31", NOW) == midnight
    assert parse_expiry("2026-01-31T00:00:00Z", NOW) == midnight
    assert parse_expiry("2026-01-31T02:00:00+02:00", NOW) == midnight
    with pytest.raises(BadValue, match="--expires takes"):
        parse_expiry("soon", NOW)


def test_a_policy_in_one_line() -> None:
    policy = keys_pb2.KeyPolicy(
        rpm=60, monthly_cost_usd=20, models=["sonnet"], pools=["api"], weight=2
    )
    assert policy_text(policy) == (
        "60 requests/min; $20.00/month (estimated); models sonnet; pools api; weight 2"
    )


def test_a_budget_in_one_line() -> None:
    budget = keys_pb2.BudgetState(
        period="day", unit="tokens", limit=1000, used=250, remaining=750, renews_at=86_400
    )
    assert budget_text(budget) == (
        "day budget: 250 tokens of 1,000 tokens used, 750 tokens left; renews 1970-01-02T00:00:00Z"
    )
