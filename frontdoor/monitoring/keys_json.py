"""Pure: keys as the JSON of GET /v1/usage and /admin/keys, and those endpoints' request bodies
as the Admin service's messages (shapes: static/API.md, "Keys").

Field names follow protos/keys.proto (snake_case), so a body written for the HTTP endpoints
reads like the gRPC request. Times are unix seconds. The secret's hash never leaves here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from frontdoor.core.errors import ApiError
from frontdoor.core.limit_headers import rfc3339
from protos import keys_pb2

Json = dict[str, Any]
INT_FIELDS = {
    "rpm": 2**31 - 1,
    "max_concurrent": 2**31 - 1,
    "tpm": 2**63 - 1,
    "daily_tokens": 2**63 - 1,
    "weekly_tokens": 2**63 - 1,
    "monthly_tokens": 2**63 - 1,
}
FLOAT_FIELDS = ("monthly_cost_usd", "weight", "expires_at")
LIST_FIELDS = ("models", "pools")
POLICY_FIELDS = (*INT_FIELDS, *FLOAT_FIELDS, *LIST_FIELDS)
TOKEN_BUDGETS = (("day", "daily_tokens", "today"), ("week", "weekly_tokens", "this_week"))
KEY_ID = re.compile(r"key_[0-9a-f]{12}")
MAX_NAME = 200


# -- out --------------------------------------------------------------------------------------


def tokens_of(usage: keys_pb2.KeyUsage) -> int:
    """What a token budget counts: input, output, cache reads and writes (as accounted)."""
    return (
        usage.input_tokens
        + usage.output_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
    )


def usage_json(usage: keys_pb2.KeyUsage) -> Json:
    return {
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "total_tokens": tokens_of(usage),
        "errors": usage.errors,
        "cost_usd": round(usage.cost_usd, 6),
    }


def policy_json(policy: keys_pb2.KeyPolicy) -> Json:
    """The limits the key has (an unset one is no limit, and is left out)."""
    out: Json = {}
    for name in (*INT_FIELDS, *FLOAT_FIELDS):
        if policy.HasField(name):
            out[name] = getattr(policy, name)
    for name in LIST_FIELDS:
        if getattr(policy, name):
            out[name] = list(getattr(policy, name))
    return out


def budget_bars(info: keys_pb2.KeyInfo) -> list[Json]:
    """Each configured budget against what the key used in its period (the dashboard's bars)."""
    policy = info.policy
    bars = [
        _bar(period, "tokens", getattr(policy, field), tokens_of(getattr(info, usage)))
        for period, field, usage in TOKEN_BUDGETS
        if policy.HasField(field)
    ]
    if policy.HasField("monthly_tokens"):
        bars.append(_bar("month", "tokens", policy.monthly_tokens, tokens_of(info.this_month)))
    if policy.HasField("monthly_cost_usd"):
        cost = round(info.this_month.cost_usd, 6)
        bars.append(_bar("month", "usd", policy.monthly_cost_usd, cost))
    return bars


def _bar(period: str, unit: str, limit: float, used: float) -> Json:
    return {
        "period": period,
        "unit": unit,
        "limit": limit,
        "used": used,
        "remaining": max(limit - used, 0),
    }


def key_json(info: keys_pb2.KeyInfo) -> Json:
    """One key as an admin sees it: who, what it may do, and what it used (never its hash)."""
    return {
        "id": info.id,
        "name": info.name,
        "role": info.role,
        "for_owner": info.for_owner,
        "prefix": info.prefix,
        "created_at": info.created_at,
        "revoked_at": info.revoked_at or None,
        "last_used_at": info.last_used_at or None,
        "policy": policy_json(info.policy),
        "usage": {
            "today": usage_json(info.today),
            "this_week": usage_json(info.this_week),
            "this_month": usage_json(info.this_month),
        },
        "budgets": budget_bars(info),
    }


def budget_json(budget: keys_pb2.BudgetState) -> Json:
    return {
        "period": budget.period,
        "unit": budget.unit,
        "limit": budget.limit,
        "used": budget.used,
        "remaining": budget.remaining,
        "renews_at": budget.renews_at,
        "renews_at_utc": rfc3339(budget.renews_at),
    }


def limits_json(limits: keys_pb2.KeyLimits) -> Json:
    """The per-minute limits the key has, as they stand now."""
    out: Json = {}
    if limits.limit_requests:
        out["requests"] = {
            "limit": limits.limit_requests,
            "remaining": max(limits.remaining_requests, 0),
            "reset_ms": limits.reset_requests_ms,
        }
    if limits.limit_tokens:
        out["tokens"] = {
            "limit": limits.limit_tokens,
            "remaining": max(limits.remaining_tokens, 0),
            "reset_ms": limits.reset_tokens_ms,
        }
    return out


def report_json(report: keys_pb2.KeyUsageReport) -> Json:
    """GET /v1/usage for one key: the key, its budgets, its per-minute limits, its days."""
    key = key_json(report.key)
    del key["budgets"]  # the controller's budget states below are the ones that decide
    return {
        "object": "key_usage",
        "key": key,
        "budgets": [budget_json(budget) for budget in report.budgets],
        "limits": limits_json(report.limits),
        "days": [{"day": day.day, **usage_json(day.usage)} for day in report.days],
    }


def key_list_json(key_list: keys_pb2.KeyList) -> Json:
    return {"keys": [key_json(info) for info in key_list.keys], "version": key_list.version}


# -- in ---------------------------------------------------------------------------------------


def key_ref(value: str) -> keys_pb2.KeyRef:
    """A key named in a path: its id when it has an id's form, else its name."""
    if KEY_ID.fullmatch(value):
        return keys_pb2.KeyRef(id=value)
    return keys_pb2.KeyRef(name=value)


def create_request(body: Mapping[str, Any]) -> keys_pb2.CreateKeyRequest:
    """POST /admin/keys: {"name", "role"?, "for_another_person"?, "policy"?}."""
    _only(body, ("name", "role", "for_another_person", "policy"), "")
    name = _text(body, "name", required=True)
    return keys_pb2.CreateKeyRequest(
        name=name,
        role=_text(body, "role"),
        for_another_person=_flag(body, "for_another_person"),
        policy=policy_from_json(body.get("policy")),
    )


def update_request(ref: keys_pb2.KeyRef, body: Mapping[str, Any]) -> keys_pb2.UpdateKeyRequest:
    """PATCH /admin/keys/{key}: {"policy"?, "clear"?, "role"?, "new_name"?}."""
    _only(body, ("policy", "clear", "role", "new_name"), "")
    clear = body.get("clear", [])
    if not isinstance(clear, list) or not all(name in POLICY_FIELDS for name in clear):
        raise ApiError(
            400, f"clear must be a list of policy fields: {', '.join(POLICY_FIELDS)}", param="clear"
        )
    return keys_pb2.UpdateKeyRequest(
        key=ref,
        policy=policy_from_json(body.get("policy")),
        clear=clear,
        role=_text(body, "role"),
        new_name=_text(body, "new_name"),
    )


def policy_from_json(value: object) -> keys_pb2.KeyPolicy:
    """A policy object; each field checked for its type (the controller checks the values)."""
    if value is None:
        return keys_pb2.KeyPolicy()
    if not isinstance(value, dict):
        raise ApiError(400, "policy must be an object", param="policy")
    _only(value, POLICY_FIELDS, "policy.")
    policy = keys_pb2.KeyPolicy()
    for name, item in value.items():
        if item is not None:
            _set_policy_field(policy, name, item)
    return policy


def _set_policy_field(policy: keys_pb2.KeyPolicy, name: str, item: object) -> None:
    param = f"policy.{name}"
    if name in INT_FIELDS:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= INT_FIELDS[name]:
            raise ApiError(400, f"{param} must be a whole number of at least 0", param=param)
        setattr(policy, name, item)
    elif name == "expires_at":
        policy.expires_at = _time(item, param)
    elif name in FLOAT_FIELDS:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ApiError(400, f"{param} must be a number", param=param)
        setattr(policy, name, float(item))
    else:
        if not isinstance(item, list) or not all(isinstance(v, str) for v in item):
            raise ApiError(400, f"{param} must be a list of names", param=param)
        getattr(policy, name).extend(item)


def _time(item: object, param: str) -> float:
    """Unix seconds, or an ISO 8601 time with its offset ("2025-06-30T00:00:00Z")."""
    if isinstance(item, int | float) and not isinstance(item, bool):
        return float(item)
    if isinstance(item, str):
        try:
            moment = datetime.fromisoformat(item)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp()
    raise ApiError(
        400, f"{param} must be unix seconds or an ISO 8601 time with a zone", param=param
    )


def _only(body: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for name in body:
        if name not in known:
            raise ApiError(
                400,
                f"unknown field {prefix}{name}; known: {', '.join(known)}",
                param=f"{prefix}{name}",
            )


def _text(body: Mapping[str, Any], name: str, required: bool = False) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > MAX_NAME or (required and not value.strip()):
        need = "a non-empty string" if required else "a string"
        raise ApiError(400, f"{name} must be {need} of at most {MAX_NAME} characters", param=name)
    return value.strip()


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false", param=name)
    return value
