"""frontdoor/core/limits.py: the rules every door applies (tool names, JSON held in strings,
lengths, MAX_MESSAGES), each a 400 naming the field and saying the rule."""

from __future__ import annotations

import json

import pytest

from frontdoor.core.errors import ApiError
from frontdoor.core.limits import (
    ANTHROPIC_TOOL_NAME,
    bounded,
    json_arguments,
    message_count,
    metadata,
    parse_body,
    tool_name,
)


@pytest.mark.parametrize("name", ["get", "a-b_C9", "x" * 64])
def test_openai_tool_names_pass(name: str) -> None:
    assert tool_name(name, "tools[0].function.name") == name


@pytest.mark.parametrize("name", ["", "a.b", "a b", "é", "x" * 65, "mcp/tool"])
def test_openai_tool_names_outside_the_rule_are_400_stating_it(name: str) -> None:
    with pytest.raises(ApiError) as raised:
        tool_name(name, "tools[0].function.name")
    assert raised.value.status == 400 and raised.value.param == "tools[0].function.name"
    assert "^[a-zA-Z0-9_-]{1,64}$" in raised.value.message


def test_anthropic_tool_names_take_128() -> None:
    assert tool_name("x" * 128, "tools.0.name", ANTHROPIC_TOOL_NAME) == "x" * 128
    with pytest.raises(ApiError, match=r"\{1,128\}"):
        tool_name("x" * 129, "tools.0.name", ANTHROPIC_TOOL_NAME)


def test_a_huge_tool_name_is_not_echoed_whole() -> None:
    with pytest.raises(ApiError) as raised:
        tool_name("y" * 20_000, "tools.0.name")
    assert len(raised.value.message) < 300


@pytest.mark.parametrize("arguments", ["", "  ", "{}", '{"a": [1, 2.5, {"b": null}]}'])
def test_arguments_empty_or_a_json_object_pass(arguments: str) -> None:
    json_arguments(arguments, "messages[1].tool_calls[0].function.arguments")


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ('{"a": 1e400}', "at a: 1e400 is not a finite JSON number"),
        ('{"a": NaN}', "NaN is not a finite JSON number"),
        ('{"a": ' + "[" * 10 + "1" + "]" * 10 + "}", None),
        ("[1]", "must be a JSON object"),
        ("{nope", "not valid JSON"),
        ("[" * 101 + "]" * 101, "deeper than 100 levels"),
    ],
)
def test_arguments_outside_the_limits_are_400_naming_the_field(
    arguments: str, says: str | None
) -> None:
    param = "input[0].arguments"
    if says is None:
        json_arguments(arguments, param)  # ten levels are fine
        return
    with pytest.raises(ApiError) as raised:
        json_arguments(arguments, param)
    assert raised.value.status == 400 and raised.value.param == param
    assert says in raised.value.message


def test_the_body_names_where_a_number_is_not_finite() -> None:
    with pytest.raises(ApiError) as raised:
        parse_body(b'{"tools": [{"input_schema": {"maximum": 1e400}}]}')
    assert raised.value.param == "tools.0.input_schema.maximum"


def test_a_deep_body_is_named_by_its_first_levels() -> None:
    assert parse_body(json.dumps({"text": "[" * 150}).encode()) == {"text": "[" * 150}
    deep = '{"a": ' * 150 + "1" + "}" * 150
    with pytest.raises(ApiError) as raised:
        parse_body(deep.encode())
    assert raised.value.param == "a.a.a.a.a.a.a.a...."
    assert "deeper than 100 levels" in raised.value.message


def test_strings_longer_than_their_limit_are_400() -> None:
    assert bounded("x" * 256, "previous_response_id") == "x" * 256
    with pytest.raises(ApiError) as raised:
        bounded("x" * 257, "previous_response_id")
    assert raised.value.param == "previous_response_id"
    assert "at most 256 characters" in raised.value.message


def test_metadata_follows_openais_limits() -> None:
    metadata({"k" * 64: "v" * 512})
    for pairs in ({"k" * 65: "v"}, {"k": "v" * 513}, {str(n): "v" for n in range(17)}):
        with pytest.raises(ApiError) as raised:
            metadata(pairs)
        assert raised.value.param is not None and raised.value.param.startswith("metadata")


def test_more_messages_than_the_cap_names_the_setting() -> None:
    message_count(10, 10, "messages")
    with pytest.raises(ApiError) as raised:
        message_count(11, 10, "messages")
    assert raised.value.param == "messages"
    assert "MAX_MESSAGES" in raised.value.message and "at most 10" in raised.value.message
