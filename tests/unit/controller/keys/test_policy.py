"""controller/keys/policy.py and ids.py: what a key may be, checked and normalised."""

from __future__ import annotations

import base64
import re

import pytest

from controller.keys import ids
from controller.keys.policy import (
    FIELDS,
    InvalidKey,
    check_name,
    check_role,
    checked_policy,
    merged_policy,
    modes_of,
)
from protos import keys_pb2

NOW = 1_750_000_000.0


def test_a_secret_is_prefixed_random_and_only_its_hash_is_kept() -> None:
    secret = ids.new_secret()
    assert re.fullmatch(r"sk-ccp-[A-Za-z0-9_-]{43}", secret)
    assert len(base64.urlsafe_b64decode(secret[7:] + "=")) == 32
    assert ids.new_secret() != secret
    assert re.fullmatch(r"[0-9a-f]{64}", ids.secret_sha256(secret))
    assert ids.prefix_of(secret) == secret[:11] and ids.prefix_of(secret).startswith("sk-ccp-")
    assert re.fullmatch(r"key_[0-9a-f]{12}", ids.new_key_id())


@pytest.mark.parametrize("name", ["ci", "alice.laptop", "A-b_c.9", "x" * 64])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "with space", "slash/no", "é", "a\n"])
def test_bad_names_say_what_a_name_is(name: str) -> None:
    with pytest.raises(InvalidKey, match="1 to 64 letters"):
        check_name(name)


def test_roles() -> None:
    assert check_role("") == "client"
    assert check_role("admin") == "admin"
    with pytest.raises(InvalidKey, match="client or admin"):
        check_role("root")


@pytest.mark.parametrize(
    "field", ["rpm", "tpm", "daily_tokens", "weekly_tokens", "monthly_tokens", "max_concurrent"]
)
@pytest.mark.parametrize("value", [0, -5])
def test_limits_must_be_positive(field: str, value: int) -> None:
    with pytest.raises(InvalidKey, match=f"{field} must be positive"):
        checked_policy(keys_pb2.KeyPolicy(**{field: value}), True, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [0.0, -1.0, float("nan"), float("inf")])
def test_a_cost_budget_is_a_positive_number(cost: float) -> None:
    with pytest.raises(InvalidKey, match="monthly_cost_usd"):
        checked_policy(keys_pb2.KeyPolicy(monthly_cost_usd=cost), True, NOW)


@pytest.mark.parametrize("weight", [0.0, 0.001, 101.0, float("nan")])
def test_weights_are_bounded(weight: float) -> None:
    with pytest.raises(InvalidKey, match="weight must be between"):
        checked_policy(keys_pb2.KeyPolicy(weight=weight), True, NOW)


def test_an_expiry_lies_ahead_when_it_is_given() -> None:
    with pytest.raises(InvalidKey, match="expires_at"):
        checked_policy(keys_pb2.KeyPolicy(expires_at=NOW - 1), True, NOW)
    past = keys_pb2.KeyPolicy(expires_at=NOW - 1)
    assert checked_policy(past, True, NOW, new_expiry=False).expires_at == NOW - 1  # kept as is
    assert checked_policy(keys_pb2.KeyPolicy(expires_at=NOW + 60), True, NOW).expires_at


def test_families_are_known_lower_case_and_once_each() -> None:
    policy = checked_policy(keys_pb2.KeyPolicy(models=["Sonnet", " haiku", "sonnet"]), True, NOW)
    assert list(policy.models) == ["sonnet", "haiku"]
    with pytest.raises(InvalidKey, match=r"unknown model family 'gpt-4' \(known: opus, sonnet"):
        checked_policy(keys_pb2.KeyPolicy(models=["gpt-4"]), True, NOW)


def test_pools_default_by_whom_the_key_is_for() -> None:
    assert list(checked_policy(keys_pb2.KeyPolicy(), True, NOW).pools) == ["cli", "api"]
    assert list(checked_policy(keys_pb2.KeyPolicy(), False, NOW).pools) == ["api"]
    given = keys_pb2.KeyPolicy(pools=["API", "cli"])
    assert list(checked_policy(given, True, NOW).pools) == ["cli", "api"]
    with pytest.raises(InvalidKey, match="unknown pool 'agent'"):
        checked_policy(keys_pb2.KeyPolicy(pools=["agent"]), True, NOW)


def test_a_key_for_another_person_may_not_use_the_cli_pool() -> None:
    with pytest.raises(InvalidKey, match="Account terms") as caught:
        checked_policy(keys_pb2.KeyPolicy(pools=["cli", "api"]), False, NOW)
    assert "another person may not use the cli pool" in str(caught.value)


def test_the_check_copies_and_never_changes_the_request() -> None:
    request = keys_pb2.KeyPolicy(models=["Opus"])
    checked_policy(request, False, NOW)
    assert list(request.models) == ["Opus"] and not request.pools


def test_an_update_replaces_what_it_sets_and_removes_what_it_clears() -> None:
    current = keys_pb2.KeyPolicy(rpm=10, tpm=1000, models=["opus"], pools=["api"], weight=2)
    update = keys_pb2.KeyPolicy(rpm=20, models=["sonnet", "haiku"])
    merged = merged_policy(current, update, ["tpm", " weight", ""])
    assert merged.rpm == 20 and list(merged.models) == ["sonnet", "haiku"]
    assert not merged.HasField("tpm") and not merged.HasField("weight")
    assert list(merged.pools) == ["api"]
    assert current.rpm == 10 and current.HasField("tpm")  # the record's own is untouched
    cleared = merged_policy(current, keys_pb2.KeyPolicy(), ["models"])
    assert not cleared.models


def test_an_update_names_only_fields_that_exist_and_never_sets_and_clears_one() -> None:
    with pytest.raises(InvalidKey, match="no policy field 'rate'"):
        merged_policy(keys_pb2.KeyPolicy(), keys_pb2.KeyPolicy(), ["rate"])
    with pytest.raises(InvalidKey, match="rpm is both set and cleared"):
        merged_policy(keys_pb2.KeyPolicy(), keys_pb2.KeyPolicy(rpm=1), ["rpm"])
    assert "expires_at" in FIELDS and "pools" in FIELDS


def test_pools_reach_worker_modes() -> None:
    assert modes_of(["cli"]) == {"cli", "agent"}
    assert modes_of(["api"]) == {"api"}
    assert modes_of(["cli", "api"]) == {"cli", "agent", "api"}
