"""Estimated prices per model family, in US dollars per million tokens: the one price table.

Figures from Anthropic's public pricing page (https://www.anthropic.com/pricing, "API"), each as
published when the family's current model was released: Opus 4.5 ($5 in, $25 out), Sonnet 4.5
($3 / $15), Haiku 4.5 ($1 / $5); a cache write is the 5-minute write (1.25 x input), a cache read
0.1 x input. `fable` has no published price here: it is priced as Opus, and a model of no known
family as Sonnet. They are ESTIMATES: the upstream's invoice is the truth (batch, long-context
and regional prices are not modelled). Only requests served by `api` workers (API keys) cost
money this way; subscription (`cli`, `agent`) accounts are billed by plan, not per token.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.models import model_family

MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens of each kind."""

    input: float
    output: float
    cache_write: float
    cache_read: float


PRICES: dict[str, Price] = {
    "opus": Price(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "sonnet": Price(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30),
    "haiku": Price(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
    "fable": Price(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50),
    "other": Price(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30),
}
PRICED_MODES = frozenset({"api"})
"""Worker modes whose requests are priced: API keys pay per token."""


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_write_tokens: int = 0,
    cache_read_tokens: int = 0,
) -> float:
    """The estimated price of one request's tokens (`input_tokens`: the uncached input)."""
    price = PRICES.get(model_family(model), PRICES["other"])
    return (
        input_tokens * price.input
        + output_tokens * price.output
        + cache_write_tokens * price.cache_write
        + cache_read_tokens * price.cache_read
    ) / MILLION


def request_cost_usd(
    mode: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_write_tokens: int = 0,
    cache_read_tokens: int = 0,
) -> float:
    """What a request cost: its tokens' price on an `api` worker, 0 on any other."""
    if mode not in PRICED_MODES:
        return 0.0
    return cost_usd(model, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens)
