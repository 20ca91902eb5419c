"""Pure: how the key tool (`python -m controller.keys`) writes keys, limits and usage."""

from __future__ import annotations

import datetime
import math

from controller.keys.periods import iso_utc
from protos import keys_pb2

_LIMITS = (
    ("rpm", "{:,} requests/min"),
    ("tpm", "{:,} tokens/min"),
    ("daily_tokens", "{:,} tokens/day"),
    ("weekly_tokens", "{:,} tokens/week"),
    ("monthly_tokens", "{:,} tokens/month"),
    ("monthly_cost_usd", "${:,.2f}/month (estimated)"),
    ("max_concurrent", "{:,} at once"),
)
_DURATION_UNITS = {"m": 60, "h": 3_600, "d": 86_400, "w": 7 * 86_400}


class BadValue(ValueError):
    """A flag's value the tool cannot read; the message says what it expects."""


def parse_expiry(text: str, now: float) -> float:
    """`30d`, `12h`, `90m`, `2w` from now, or an ISO 8601 date or time (UTC unless it says)."""
    text = text.strip()
    unit = _DURATION_UNITS.get(text[-1:].lower())
    if unit is not None and text[:-1].isdigit():
        return now + int(text[:-1]) * unit
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(
            f"--expires takes a duration (30d, 12h, 90m, 2w) or a date (2026-01-31), not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def policy_text(policy: keys_pb2.KeyPolicy) -> str:
    """The policy in one line: its limits, families, pools, weight and expiry."""
    parts = [fmt.format(getattr(policy, f)) for f, fmt in _LIMITS if policy.HasField(f)]
    if policy.models:
        parts.append("models " + ",".join(policy.models))
    parts.append("pools " + ",".join(policy.pools or ["cli", "api"]))
    if policy.HasField("weight"):
        parts.append(f"weight {policy.weight:g}")
    if policy.HasField("expires_at"):
        parts.append("expires " + iso_utc(policy.expires_at))
    return "; ".join(parts)


def usage_text(usage: keys_pb2.KeyUsage) -> str:
    tokens = (
        usage.input_tokens
        + usage.output_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
    )
    text = f"{usage.requests:,} requests, {tokens:,} tokens"
    if usage.errors:
        text += f", {usage.errors:,} errors"
    if usage.cost_usd:
        text += f", ${usage.cost_usd:,.2f}"
    return text


def created_text(result: keys_pb2.CreateKeyResult, base_url: str) -> str:
    key = result.key
    secret = result.secret
    return "\n".join(
        [
            f"Key {key.name!r} created: id {key.id}, role {key.role}, {policy_text(key.policy)}.",
            "",
            f"    {secret}",
            "",
            "This is the only time the secret is shown: copy it now (the proxy keeps its hash).",
            "Give it to the tool as its API key, for example:",
            f"    OPENAI_BASE_URL={base_url}/v1 OPENAI_API_KEY={secret}",
            f"    ANTHROPIC_BASE_URL={base_url} ANTHROPIC_API_KEY={secret}",
            f'    curl -H "Authorization: Bearer {secret}" {base_url}/v1/usage',
        ]
    )


def key_line(key: keys_pb2.KeyInfo) -> str:
    """One key of `list`."""
    state = "revoked " + iso_utc(key.revoked_at) if key.revoked_at else key.role
    return (
        f"{key.name:<24} {key.id:<16} {key.prefix}...  {state:<8}  today: "
        f"{usage_text(key.today)}  | {policy_text(key.policy)}"
    )


def report_text(report: keys_pb2.KeyUsageReport) -> str:
    """`show`: the key, its budgets and limits, then its days."""
    key = report.key
    lines = [
        f"{key.name} ({key.id}, {key.prefix}...), role {key.role}, "
        + ("for the accounts' owner" if key.for_owner else "for another person"),
        f"  created {iso_utc(key.created_at)}, last used "
        + (iso_utc(key.last_used_at) if key.last_used_at else "never"),
        f"  policy: {policy_text(key.policy)}",
    ]
    if key.revoked_at:
        lines.append(f"  revoked {iso_utc(key.revoked_at)}")
    lines += [
        f"  today: {usage_text(key.today)}",
        f"  this week: {usage_text(key.this_week)}",
        f"  this month: {usage_text(key.this_month)}",
    ]
    lines += [f"  {budget_text(b)}" for b in report.budgets]
    limits = report.limits
    if limits.limit_requests:
        lines.append(
            f"  requests this minute: {limits.remaining_requests:,} of "
            f"{limits.limit_requests:,} left"
        )
    if limits.limit_tokens:
        lines.append(
            f"  tokens this minute: {limits.remaining_tokens:,} of {limits.limit_tokens:,} left"
        )
    if report.days:
        lines.append("  days:")
        lines += [f"    {day.day}  {usage_text(day.usage)}" for day in report.days]
    return "\n".join(lines)


def budget_text(budget: keys_pb2.BudgetState) -> str:
    def amount(value: float) -> str:
        return f"${value:,.2f}" if budget.unit == "usd" else f"{math.floor(value):,} tokens"

    return (
        f"{budget.period} budget: {amount(budget.used)} of {amount(budget.limit)} used, "
        f"{amount(budget.remaining)} left; renews {iso_utc(budget.renews_at)}"
    )
