"""frontdoor/core/door.py has_lone_surrogate: half a UTF-16 pair is a 400, a pair is text."""

from __future__ import annotations

import json

import pytest

from frontdoor.core.door import has_lone_surrogate


@pytest.mark.parametrize(
    ("raw", "lone"),
    [
        (rb'{"t": "\ud800"}', True),
        (rb'{"t": "\uDFFF x"}', True),
        (rb'{"t": ["a", {"b": "\udc00"}]}', True),
        (rb'{"t": "\ud83d\ude00"}', False),  # a whole pair: an emoji
        (rb'{"t": "\u00e9 plain"}', False),
        (b'{"t": "no escapes"}', False),
    ],
)
def test_lone_surrogates(raw: bytes, lone: bool) -> None:
    assert has_lone_surrogate(raw, json.loads(raw)) is lone
