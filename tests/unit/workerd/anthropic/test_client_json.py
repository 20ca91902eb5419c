"""workerd/anthropic/client_json.py: the client's JSON read and written without recursion
errors, NaN or Infinity."""

from __future__ import annotations

import json
import sys

import pytest

from common.json_limits import exceeds_depth
from workerd.anthropic.client_json import MAX_DEPTH, ClientJsonError, dumps, loads


def nested(levels: int, inner: str = "1") -> str:
    return '{"a": ' * levels + inner + "}" * levels


def test_nesting_up_to_the_limit_is_taken() -> None:
    assert loads(nested(MAX_DEPTH))["a"]["a"] is not None


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 990, sys.getrecursionlimit() + 10])
def test_deeper_nesting_is_refused_not_a_recursion_error(levels: int) -> None:
    with pytest.raises(ClientJsonError, match=f"nested deeper than {MAX_DEPTH}"):
        loads(nested(levels))
    with pytest.raises(ClientJsonError, match="nested deeper"):
        loads("[" * levels + "]" * levels)


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"s": "[{" * 500 + '\\"' + "}]" * 500, "t": ["x"] * 300})
    assert not exceeds_depth(text.encode())
    assert loads(text)["t"] == ["x"] * 300


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', "[-Infinity]", '{"a": 1e999}'])
def test_numbers_json_cannot_carry_are_refused(text: str) -> None:
    with pytest.raises(ClientJsonError):
        loads(text)


def test_an_integer_past_the_digit_limit_is_a_client_error() -> None:
    with pytest.raises(ClientJsonError):
        loads("1" * 5000)


def test_invalid_json_names_where() -> None:
    with pytest.raises(ClientJsonError, match=r"not valid JSON .* at position 1"):
        loads("{nope")


def test_dumps_never_writes_nan() -> None:
    assert dumps({"a": 1.5}) == '{"a": 1.5}'
    with pytest.raises(ValueError):
        dumps({"a": float("nan")})
