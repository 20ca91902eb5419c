"""Keys as the JSON of /v1/usage and /admin/keys, and those endpoints' bodies as requests."""

from __future__ import annotations

from typing import Any

import pytest

from frontdoor.core.errors import ApiError
from frontdoor.monitoring.keys_json import (
    create_request,
    key_json,
    key_ref,
    report_json,
    update_request,
)
from protos import keys_pb2


def info() -> keys_pb2.KeyInfo:
    return keys_pb2.KeyInfo(
        id="key_0123456789ab",
        name="ci",
        role="client",
        for_owner=False,
        prefix="sk-ccp-AbCd",
        created_at=10.0,
        secret_sha256="ab" * 32,
        policy=keys_pb2.KeyPolicy(
            rpm=60, daily_tokens=1000, monthly_cost_usd=5.0, pools=["api"], weight=2.0
        ),
        today=keys_pb2.KeyUsage(
            requests=3, input_tokens=100, output_tokens=50, cache_read_tokens=20, errors=1
        ),
        this_month=keys_pb2.KeyUsage(requests=9, cost_usd=1.25),
    )


def test_a_key_shows_its_policy_usage_and_budgets_never_its_hash() -> None:
    shown = key_json(info())
    assert "ab" * 32 not in str(shown)
    assert shown["policy"] == {
        "rpm": 60,
        "daily_tokens": 1000,
        "monthly_cost_usd": 5.0,
        "weight": 2.0,
        "pools": ["api"],
    }
    assert shown["usage"]["today"]["total_tokens"] == 170
    assert shown["usage"]["today"]["errors"] == 1
    assert shown["budgets"] == [
        {"period": "day", "unit": "tokens", "limit": 1000, "used": 170, "remaining": 830},
        {"period": "month", "unit": "usd", "limit": 5.0, "used": 1.25, "remaining": 3.75},
    ]
    assert shown["revoked_at"] is None and shown["last_used_at"] is None
    assert (shown["prefix"], shown["for_owner"]) == ("sk-ccp-AbCd", False)


def test_a_usage_report() -> None:
    report = keys_pb2.KeyUsageReport(
        key=info(),
        budgets=[
            keys_pb2.BudgetState(
                period="day",
                unit="tokens",
                limit=1000,
                used=170,
                remaining=830,
                renews_at=1_767_225_600.0,
            )
        ],
        limits=keys_pb2.KeyLimits(limit_requests=60, remaining_requests=57, reset_requests_ms=900),
        days=[keys_pb2.KeyUsageDay(day="2025-12-31", usage=keys_pb2.KeyUsage(requests=3))],
    )
    shown = report_json(report)
    assert shown["object"] == "key_usage"
    assert shown["key"]["name"] == "ci" and "budgets" not in shown["key"]
    assert shown["budgets"][0]["renews_at_utc"] == "2026-01-01T00:00:00Z"
    assert shown["limits"] == {"requests": {"limit": 60, "remaining": 57, "reset_ms": 900}}
    assert shown["days"][0]["day"] == "2025-12-31" and shown["days"][0]["requests"] == 3


def test_a_create_body_becomes_the_request() -> None:
    request = create_request(
        {
            "name": " ci ",
            "role": "client",
            "for_another_person": True,
            "policy": {
                "rpm": 60,
                "tpm": 100000,
                "models": ["sonnet"],
                "pools": ["api"],
                "weight": 2,
                "expires_at": "2026-07-01T00:00:00Z",
                "monthly_cost_usd": None,
            },
        }
    )
    assert request.name == "ci" and request.for_another_person
    assert request.policy.rpm == 60 and request.policy.tpm == 100000
    assert list(request.policy.models) == ["sonnet"] and request.policy.weight == 2.0
    assert request.policy.expires_at == 1_782_864_000.0
    assert not request.policy.HasField("monthly_cost_usd")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x", "nmae": 1}, "nmae"),
        ({"name": "x", "for_another_person": "yes"}, "for_another_person"),
        ({"name": "x", "policy": []}, "policy"),
        ({"name": "x", "policy": {"rpm": "60"}}, "policy.rpm"),
        ({"name": "x", "policy": {"rpm": True}}, "policy.rpm"),
        ({"name": "x", "policy": {"rpm": 2**31}}, "policy.rpm"),
        ({"name": "x", "policy": {"tpm": -1}}, "policy.tpm"),
        ({"name": "x", "policy": {"weight": "2"}}, "policy.weight"),
        ({"name": "x", "policy": {"models": "sonnet"}}, "policy.models"),
        ({"name": "x", "policy": {"expires_at": "tomorrow"}}, "policy.expires_at"),
        ({"name": "x", "policy": {"expires_at": "2026-07-01T00:00:00"}}, "policy.expires_at"),
        ({"name": "x", "policy": {"budget": 1}}, "policy.budget"),
    ],
)
def test_a_bad_create_body_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as caught:
        create_request(body)
    assert (caught.value.status, caught.value.param) == (400, param)


def test_an_update_body_becomes_the_request() -> None:
    request = update_request(
        key_ref("ci"), {"policy": {"rpm": 10}, "clear": ["models"], "new_name": "ci-2"}
    )
    assert request.key.name == "ci" and not request.key.id
    assert request.policy.rpm == 10 and list(request.clear) == ["models"]
    assert request.new_name == "ci-2" and request.role == ""
    with pytest.raises(ApiError) as caught:
        update_request(key_ref("ci"), {"clear": ["secret"]})
    assert caught.value.param == "clear"


def test_a_key_is_named_by_id_or_by_name() -> None:
    assert key_ref("key_0123456789ab").id == "key_0123456789ab"
    assert key_ref("key_the_ci").name == "key_the_ci"
    assert key_ref("alice").name == "alice"
