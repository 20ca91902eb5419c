"""Pure: what a key may be (name, role, policy), checked and normalised before it is kept.

    InvalidKey      a request the Admin service refuses with INVALID_ARGUMENT (its message says
                    what to change)

Pools: `cli` is the subscription accounts (cli and agent workers), `api` the API keys. A key
for the accounts' owner (own tools) may use both and does by default; a key for another person
uses `api` only: the README's account terms ("Account terms") keep subscription accounts for
their owner's own tools.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from common.models import FAMILIES
from protos import keys_pb2

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CLIENT, ADMIN = "client", "admin"
ROLES = (CLIENT, ADMIN)
POOLS = ("cli", "api")
POOL_MODES = {"cli": frozenset({"cli", "agent"}), "api": frozenset({"api"})}
OWNER_POOLS = ("cli", "api")
OTHER_PERSON_POOLS = ("api",)
MIN_WEIGHT, MAX_WEIGHT = 0.01, 100.0
FIELDS = tuple(f.name for f in keys_pb2.KeyPolicy.DESCRIPTOR.fields)
"""Every policy field by name: what UpdateKey's `clear` may name."""
_POSITIVE = ("rpm", "tpm", "daily_tokens", "weekly_tokens", "monthly_tokens", "max_concurrent")
ACCOUNT_TERMS = (
    "a key for another person may not use the cli pool: subscription (cli) accounts are for "
    'their owner\'s own tools (README, "Account terms"); give it the api pool'
)


class InvalidKey(ValueError):
    """A key request that cannot be kept as it is; the message says what to change."""


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidKey(
            f"a key name is 1 to 64 letters, digits, '.', '_' or '-' (got {name[:80]!r})"
        )
    return name


def check_role(role: str) -> str:
    """The role, `client` when empty."""
    role = role or CLIENT
    if role not in ROLES:
        raise InvalidKey(f"role must be client or admin (got {role[:40]!r})")
    return role


def checked_policy(
    policy: keys_pb2.KeyPolicy, for_owner: bool, now: float, new_expiry: bool = True
) -> keys_pb2.KeyPolicy:
    """A normalised copy (families and pools lower-case, once each, pools filled in); raises
    InvalidKey. `new_expiry`: the expiry was given now, so it must lie ahead."""
    checked = keys_pb2.KeyPolicy()
    checked.CopyFrom(policy)
    for name in _POSITIVE:
        if checked.HasField(name) and getattr(checked, name) <= 0:
            raise InvalidKey(f"{name} must be positive (to remove the limit, clear it)")
    if checked.HasField("monthly_cost_usd"):
        cost = checked.monthly_cost_usd
        if not (math.isfinite(cost) and cost > 0):
            raise InvalidKey("monthly_cost_usd must be a positive number of dollars")
    if checked.HasField("weight"):
        weight = checked.weight
        if not (math.isfinite(weight) and MIN_WEIGHT <= weight <= MAX_WEIGHT):
            raise InvalidKey(f"weight must be between {MIN_WEIGHT} and {MAX_WEIGHT:g}")
    if checked.HasField("expires_at"):
        expires = checked.expires_at
        if not math.isfinite(expires) or expires <= 0 or (new_expiry and expires <= now):
            raise InvalidKey("expires_at must be a time ahead (unix seconds)")
    checked.models[:] = _families(checked.models)
    checked.pools[:] = _pools(checked.pools, for_owner)
    return checked


def _families(models: Iterable[str]) -> list[str]:
    families = list(dict.fromkeys(m.strip().lower() for m in models))
    unknown = [m for m in families if m not in FAMILIES]
    if unknown:
        known = ", ".join(FAMILIES)
        raise InvalidKey(f"unknown model family {unknown[0][:40]!r} (known: {known})")
    return families


def _pools(pools: Iterable[str], for_owner: bool) -> list[str]:
    chosen = list(dict.fromkeys(p.strip().lower() for p in pools))
    unknown = [p for p in chosen if p not in POOLS]
    if unknown:
        raise InvalidKey(f"unknown pool {unknown[0][:40]!r} (pools: cli, api)")
    if not for_owner and "cli" in chosen:
        raise InvalidKey(ACCOUNT_TERMS)
    if not chosen:
        return list(OWNER_POOLS if for_owner else OTHER_PERSON_POOLS)
    return [p for p in POOLS if p in chosen]  # in one order, whatever the request's


def merged_policy(
    current: keys_pb2.KeyPolicy, update: keys_pb2.KeyPolicy, clear: Iterable[str]
) -> keys_pb2.KeyPolicy:
    """`current` with the fields `update` sets replacing its own and the `clear` ones removed."""
    cleared = list(dict.fromkeys(name.strip() for name in clear if name.strip()))
    unknown = [name for name in cleared if name not in FIELDS]
    if unknown:
        raise InvalidKey(
            f"no policy field {unknown[0][:40]!r} to clear (fields: {', '.join(FIELDS)})"
        )
    merged = keys_pb2.KeyPolicy()
    merged.CopyFrom(current)
    for field, value in update.ListFields():
        if field.name in cleared:
            raise InvalidKey(f"{field.name} is both set and cleared")
        if field.name in ("models", "pools"):
            getattr(merged, field.name)[:] = value
        else:
            setattr(merged, field.name, value)
    for name in cleared:
        merged.ClearField(name)
    return merged


def modes_of(pools: Iterable[str]) -> frozenset[str]:
    """The worker modes the pools reach."""
    return frozenset(mode for pool in pools for mode in POOL_MODES.get(pool, ()))
