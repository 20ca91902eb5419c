"""common/json_limits.py: one depth limit and finite numbers for every client JSON, the place of
a refusal named; the depth read from the bytes agrees with a walk of the parsed value."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from common.json_limits import MAX_DEPTH, JsonLimitError, exceeds_depth, parse


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


def walked_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((walked_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((walked_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"a": [1, {"b": 1e400}]}', ("a", 1, "b")),
        ('{"a": -1E999}', ("a",)),
        ("[0.5, NaN]", (1,)),
        ('{"x": Infinity}', ("x",)),
        ('{"x": -Infinity}', ("x",)),
    ],
)
def test_numbers_that_are_not_finite_are_refused_where_they_are(
    text: str, path: tuple[Any]
) -> None:
    with pytest.raises(JsonLimitError) as raised:
        parse(text)
    assert raised.value.path == path
    assert "is not a finite JSON number" in raised.value.reason


def test_finite_numbers_pass_as_floats() -> None:
    assert parse('{"a": 1.5e300, "b": -0.0, "c": 7}') == {"a": 1.5e300, "b": -0.0, "c": 7}


def test_depth_up_to_the_limit_passes_and_one_more_is_refused_with_its_path() -> None:
    assert parse(json.dumps(nested(MAX_DEPTH))) == nested(MAX_DEPTH)
    with pytest.raises(JsonLimitError) as raised:
        parse(json.dumps({"tools": nested(MAX_DEPTH)}))
    assert raised.value.path[0] == "tools"
    assert f"deeper than {MAX_DEPTH} levels" in raised.value.reason


def test_depth_past_pythons_own_limit_is_refused_too() -> None:
    with pytest.raises(JsonLimitError) as raised:
        parse("[" * 5000 + "]" * 5000)
    assert raised.value.path == ()


def test_a_too_long_integer_is_a_limit_not_a_crash() -> None:
    with pytest.raises(JsonLimitError, match="digits"):
        parse("1" * 5000)


def test_brackets_and_escapes_inside_strings_do_not_count() -> None:
    text = json.dumps(["[[[[{{{{", 'a\\"[[', "\\", '"', "}}]]", {"k": "]"}])
    assert parse(text) == json.loads(text)
    assert not exceeds_depth(text.encode(), 2)
    assert exceeds_depth(text.encode(), 1)


def test_the_depth_read_from_bytes_agrees_with_a_walk() -> None:
    rng = random.Random(7)
    pieces = ["[", "]", "{", "}", '"', "\\", "a", ",", ":"]

    def value(depth: int) -> Any:
        kind = rng.random()
        if depth > 12 or kind < 0.3:
            return "".join(rng.choice(pieces) for _ in range(rng.randrange(6)))
        if kind < 0.65:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {str(n): value(depth + 1) for n in range(rng.randrange(4))}

    for _ in range(300):
        item = value(0)
        raw = json.dumps(item).encode()
        depth = walked_depth(item)
        assert not exceeds_depth(raw, depth)
        assert exceeds_depth(raw, depth - 1) == (depth > 0)
