"""common/prices.py: the one price table, and what a request costs."""

from __future__ import annotations

import pytest

from common.models import FAMILIES
from common.prices import PRICES, cost_usd, request_cost_usd


def test_every_family_has_a_price() -> None:
    assert set(FAMILIES) | {"other"} == set(PRICES)


def test_a_million_of_each_token_kind_costs_its_price() -> None:
    sonnet = PRICES["sonnet"]
    assert cost_usd("claude-sonnet-5", 1_000_000, 0) == sonnet.input
    assert cost_usd("sonnet", 0, 1_000_000) == sonnet.output
    assert cost_usd("sonnet", 0, 0, cache_write_tokens=1_000_000) == sonnet.cache_write
    assert cost_usd("sonnet", 0, 0, cache_read_tokens=1_000_000) == sonnet.cache_read
    assert cost_usd("claude-opus-4-8", 1000, 1000) == pytest.approx(0.03)


def test_only_api_workers_cost_money_per_token() -> None:
    assert request_cost_usd("api", "haiku", 1_000_000, 0) == PRICES["haiku"].input
    assert request_cost_usd("cli", "haiku", 1_000_000, 0) == 0.0
    assert request_cost_usd("agent", "opus", 1_000_000, 1_000_000) == 0.0
