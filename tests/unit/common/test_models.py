"""common/models.py: model names clients may use and what /v1/models lists."""

from __future__ import annotations

import json

import pytest

from common.config import ConfigError
from common.models import (
    FAMILY_MODELS,
    LISTED_MODELS,
    ModelCatalog,
    anthropic_page,
    display_name,
    model_family,
)


def _catalog(aliases: dict[str, object]) -> ModelCatalog:
    return ModelCatalog.from_env({"MODEL_ALIASES": json.dumps(aliases)})


@pytest.mark.parametrize(
    ("requested", "resolved"),
    [
        ("sonnet", "sonnet"),
        ("opus", "opus"),
        ("haiku", "haiku"),
        ("claude", "sonnet"),
        ("claude-code", "sonnet"),
        ("claude-code/opus", "opus"),
        ("claude-code/haiku", "haiku"),
        ("claude-code/claude-opus-4-8", "claude-opus-4-8"),
        ("claude-opus-4-8", "claude-opus-4-8"),
        ("claude-sonnet-5", "claude-sonnet-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001"),
        ("claude-3.7-sonnet-latest", "claude-3.7-sonnet-latest"),
    ],
)
def test_builtin_resolution(requested: str, resolved: str) -> None:
    assert ModelCatalog().resolve(requested) == resolved


@pytest.mark.parametrize(
    "requested",
    [
        "gpt-4o",
        "",
        "claude-",
        "claude-x",  # too short after the prefix
        "claude-code/",
        "claude-code/gpt-4o",
        "Claude-Opus-4-8",
        "claude-opus-4-8[1m]",
        "claude-opus 4",
        "claude-opus-4-8\n",  # `$` would accept a trailing newline
        "claude-" + "a" * 82,
        "sonnet-extra",
        "fable",  # a family, but not an alias clients may use
    ],
)
def test_unknown_models_resolve_to_none(requested: str) -> None:
    assert ModelCatalog().resolve(requested) is None


def test_longest_full_id_passes() -> None:
    name = "claude-" + "a" * 81
    assert ModelCatalog().resolve(name) == name


def test_model_aliases_from_env() -> None:
    catalog = _catalog(
        {"gpt-4o": "sonnet", "gpt-4": "claude-code/opus", "fast": "claude-haiku-4-5-20251001"}
    )
    assert catalog.resolve("gpt-4o") == "sonnet"
    assert catalog.resolve("gpt-4") == "opus"
    assert catalog.resolve("fast") == "claude-haiku-4-5-20251001"
    assert catalog.resolve("claude") == "sonnet"  # built-ins still work
    assert catalog.resolve("gpt-3.5-turbo") is None


def test_alias_target_resolved_through_builtin_alias() -> None:
    assert _catalog({"default": "claude"}).resolve("default") == "sonnet"


def test_no_model_aliases_is_empty_catalog() -> None:
    assert ModelCatalog.from_env({}).aliases == {}


@pytest.mark.parametrize(
    ("aliases", "fragment"),
    [
        ({"gpt-4o": "gpt-5"}, "unknown model"),
        ({"gpt-4o": ""}, "must map"),
        ({"gpt-4o": 4}, "must map"),
        ({"gpt-4o": None}, "must map"),
        ({"gpt-4o": ["sonnet"]}, "must map"),
        ({"a": "b"}, "unknown model"),
    ],
)
def test_model_aliases_validation(aliases: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        _catalog(aliases)
    assert info.value.variable == "MODEL_ALIASES"
    assert fragment in info.value.problem


@pytest.mark.parametrize("raw", ['["sonnet"]', "{bad json", '"sonnet"'])
def test_model_aliases_must_be_json_object(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        ModelCatalog.from_env({"MODEL_ALIASES": raw})
    assert info.value.variable == "MODEL_ALIASES"


def test_alias_cannot_target_another_custom_alias() -> None:
    with pytest.raises(ConfigError):
        _catalog({"a": "sonnet", "b": "a"})


def test_listed_is_deterministic_and_includes_everything() -> None:
    catalog = _catalog({"gpt-4o": "sonnet", "gpt-4": "opus"})
    listed = catalog.listed()
    assert listed == catalog.listed()
    assert listed == _catalog({"gpt-4o": "sonnet", "gpt-4": "opus"}).listed()
    assert listed[: len(LISTED_MODELS)] == list(LISTED_MODELS)
    for name in ("sonnet", "opus", "haiku", "claude", "claude-code", "gpt-4o", "gpt-4"):
        assert name in listed
    assert len(listed) == len(set(listed))
    for name in listed:
        assert catalog.resolve(name) is not None, name


def test_listed_without_aliases_has_no_duplicates() -> None:
    listed = ModelCatalog().listed()
    assert len(listed) == len(set(listed))
    assert "claude-code" in listed


def test_listed_has_no_duplicates_when_alias_shadows_a_builtin_name() -> None:
    listed = _catalog({"sonnet": "opus", "gpt-4o": "sonnet"}).listed()
    assert listed.count("sonnet") == 1
    assert "gpt-4o" in listed


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-opus-4-8", "opus"),
        ("opus", "opus"),
        ("claude-sonnet-5", "sonnet"),
        ("sonnet", "sonnet"),
        ("claude-haiku-4-5-20251001", "haiku"),
        ("claude-fable-5", "fable"),
        ("claude-opus-4-8[1m]", "opus"),
        ("gpt-4o", "other"),
        ("", "other"),
    ],
)
def test_model_family(model: str, family: str) -> None:
    assert model_family(model) == family


def test_aliases_follow_the_pinned_cli() -> None:
    # What CLI 2.1.332's system/init line and upstream requests say (docs/claude-cli.md).
    assert FAMILY_MODELS == {
        "sonnet": "claude-sonnet-5-5",
        "opus": "claude-opus-5-5",
        "haiku": "claude-haiku-5-5",
        "fable": "claude-fable-5-2",
    }
    for family in ("sonnet", "opus", "haiku"):
        assert FAMILY_MODELS[family] in LISTED_MODELS


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("claude-sonnet-5-5", "Claude Sonnet 5.5"),
        ("claude-haiku-4-5-20251001", "Claude Haiku 4.5"),
        ("claude-fable-5-2", "Claude Fable 5.2"),
        ("sonnet", "Claude Sonnet 5.5 (sonnet)"),
        ("claude-code", "Claude Sonnet 5.5 (claude-code)"),
        ("gpt-4o", "gpt-4o"),
    ],
)
def test_display_name(name: str, shown: str) -> None:
    assert display_name(name) == shown


def test_anthropic_page_has_the_list_shape() -> None:
    names = ["a", "b", "c", "d", "e"]
    page = anthropic_page(names, 2)
    assert [m["id"] for m in page["data"]] == ["a", "b"]
    assert page["has_more"] is True and page["first_id"] == "a" and page["last_id"] == "b"
    model = page["data"][0]
    assert model["type"] == "model" and model["display_name"] == "a"
    assert model["created_at"].endswith("Z")
    after = anthropic_page(names, 2, after_id="b")
    assert [m["id"] for m in after["data"]] == ["c", "d"] and after["has_more"] is True
    last = anthropic_page(names, 2, after_id="d")
    assert [m["id"] for m in last["data"]] == ["e"] and last["has_more"] is False
    before = anthropic_page(names, 2, before_id="d")
    assert [m["id"] for m in before["data"]] == ["b", "c"] and before["has_more"] is True
    first = anthropic_page(names, 2, before_id="b")
    assert [m["id"] for m in first["data"]] == ["a"] and first["has_more"] is False


def test_anthropic_page_limits_and_unknown_ids() -> None:
    names = [f"m{i}" for i in range(30)]
    assert len(anthropic_page(names, 0)["data"]) == 1
    assert len(anthropic_page(names, 5000)["data"]) == 30
    empty = anthropic_page(names, 10, after_id="nope")
    assert empty["data"] == [] and empty["first_id"] is None and empty["has_more"] is False
