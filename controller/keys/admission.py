"""Pure: the decisions on a request made with a key, each with the answer the client gets.

    KeyRefused      a request the key's policy refuses: PERMISSION_DENIED (unknown, revoked or
                    expired key; a model family or pool it may not use), QUOTA_EXHAUSTED (a
                    budget spent: retry when it renews) or RATE_LIMITED (over its requests or
                    tokens per minute, with the figures for the limit headers)

Tokens are counted as budgets count them (input, output, cache reads and writes); a request's
estimate is counted at admission and replaced by what it used when it ends.
"""

from __future__ import annotations

from collections.abc import Collection

from common.errors import make_error
from controller.keys.periods import iso_utc, renews_at
from controller.keys.record import KeyRecord
from controller.keys.usage import UsageBook
from controller.scheduling.ratelimit import Limit, RateWindow
from protos import common_pb2 as pb
from protos import keys_pb2

UNLIMITED = 1 << 62  # an unset per-minute limit, for the window (shown as 0: not configured)
BUDGETS = (
    ("daily_tokens", "day", "tokens", "daily token budget"),
    ("weekly_tokens", "week", "tokens", "weekly token budget"),
    ("monthly_tokens", "month", "tokens", "monthly token budget"),
    ("monthly_cost_usd", "month", "usd", "monthly cost budget"),
)
"""(policy field, period, unit, what the refusal calls it)."""


class KeyRefused(Exception):
    """The key's policy refuses the request; `event` is what the client is sent."""

    def __init__(
        self,
        code: int,
        message: str,
        retry_after_s: float = 0.0,
        limits: keys_pb2.KeyLimits | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_ms = int(max(retry_after_s, 0.0) * 1000)
        self.limits = limits

    def event(self) -> pb.Event:
        event = make_error(self.code, self.message, retry_after_ms=self.retry_after_ms)
        if self.limits is not None:
            event.error.key_limits.CopyFrom(self.limits)
        return event


def access_refusal(
    record: KeyRecord | None, key_id: str, family: str, now: float
) -> KeyRefused | None:
    """Unknown, revoked or expired, or a model family its policy does not allow."""
    if record is None:
        return KeyRefused(pb.PERMISSION_DENIED, f"unknown key {key_id[:40]!r}")
    if record.revoked:
        return KeyRefused(pb.PERMISSION_DENIED, f"the key {record.name!r} is revoked")
    if record.expired(now):
        when = iso_utc(record.policy.expires_at)
        return KeyRefused(pb.PERMISSION_DENIED, f"the key {record.name!r} expired at {when}")
    if record.families is not None and family not in record.families:
        allowed = ", ".join(record.policy.models)
        return KeyRefused(
            pb.PERMISSION_DENIED,
            f"the key {record.name!r} may not use {family} models (its policy `models` "
            f"allows: {allowed})",
        )
    return None


def pool_refusal(record: KeyRecord, configured_modes: Collection[str]) -> KeyRefused | None:
    """No worker of this proxy is in a pool the key may use."""
    if record.modes & set(configured_modes):
        return None
    pools = ", ".join(record.policy.pools)
    return KeyRefused(
        pb.PERMISSION_DENIED,
        f"the key {record.name!r} may use the pools {pools} only (its policy `pools`), and "
        "this proxy has no worker in them",
    )


def _used(record: KeyRecord, usage: UsageBook, period: str, unit: str, now: float) -> float:
    counts = usage.period(record.id, period, now)
    return counts.cost_usd if unit == "usd" else float(counts.tokens)


def budget_states(record: KeyRecord, usage: UsageBook, now: float) -> list[keys_pb2.BudgetState]:
    """One state per budget the key has: limit, used, what remains and when it renews."""
    states = []
    for field, period, unit, _ in BUDGETS:
        if record.policy.HasField(field):
            limit = float(getattr(record.policy, field))
            used = _used(record, usage, period, unit, now)
            states.append(
                keys_pb2.BudgetState(
                    period=period,
                    unit=unit,
                    limit=limit,
                    used=round(used, 6),
                    remaining=max(round(limit - used, 6), 0.0),
                    renews_at=renews_at(period, now),
                )
            )
    return states


def budget_refusal(record: KeyRecord, usage: UsageBook, now: float) -> KeyRefused | None:
    """A budget spent: refused until it renews (the last to renew, when several are). Plain
    numbers on the way: this runs for every request of a key with a budget."""
    spent: tuple[float, str, str, float, float] | None = None  # renews_at, name, unit, limit, used
    for field, period, unit, name in BUDGETS:
        if not record.policy.HasField(field):
            continue
        limit = float(getattr(record.policy, field))
        used = _used(record, usage, period, unit, now)
        if used >= limit and (spent is None or renews_at(period, now) > spent[0]):
            spent = (renews_at(period, now), name, unit, limit, used)
    if spent is None:
        return None
    renews, name, unit, limit, used = spent
    if unit == "usd":
        amount = f"${limit:,.2f}, estimated: ${used:,.2f} used"
    else:
        amount = f"{int(limit):,} tokens: {int(used):,} used"
    return KeyRefused(
        pb.QUOTA_EXHAUSTED,
        f"the key {record.name!r} has spent its {name} ({amount}); it renews at {iso_utc(renews)}",
        renews - now,
    )


def rate_window(record: KeyRecord) -> RateWindow:
    policy = record.policy
    rpm = policy.rpm if policy.HasField("rpm") else UNLIMITED
    tpm = policy.tpm if policy.HasField("tpm") else UNLIMITED
    return RateWindow(Limit(rpm=rpm, tpm=tpm))


def key_limits(record: KeyRecord, window: RateWindow, now: float) -> keys_pb2.KeyLimits:
    """The per-minute limits as they stand, for the x-ratelimit-* headers (0: none set)."""
    requests, tokens = window.usage(now)
    reset_ms = int(window.replenished_s(now) * 1000)
    limits = keys_pb2.KeyLimits()
    if record.policy.HasField("rpm"):
        rpm = record.policy.rpm
        limits.limit_requests = rpm
        limits.remaining_requests = max(rpm - requests, 0)
        limits.reset_requests_ms = reset_ms
    if record.policy.HasField("tpm"):
        tpm = record.policy.tpm
        limits.limit_tokens = tpm
        limits.remaining_tokens = max(tpm - tokens, 0)
        limits.reset_tokens_ms = reset_ms
    return limits


def rate_refusal(
    record: KeyRecord, window: RateWindow, tokens: int, now: float
) -> KeyRefused | None:
    """Over its requests or tokens per minute: RATE_LIMITED, retry when this request fits."""
    wait_s = window.wait_s(tokens, now)
    if wait_s <= 0:
        return None
    requests, _ = window.usage(now)
    policy = record.policy
    if policy.HasField("rpm") and requests >= policy.rpm:
        over = f"{policy.rpm:,} requests per minute"
    else:
        over = f"{policy.tpm:,} tokens per minute"
    return KeyRefused(
        pb.RATE_LIMITED,
        f"the key {record.name!r} is over its rate limit ({over}); retry in {wait_s:.1f} s",
        wait_s,
        key_limits(record, window, now),
    )
