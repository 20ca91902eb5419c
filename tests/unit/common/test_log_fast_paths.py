"""common/logs.py's shortcuts give the lines the long way gives: masking skips the regex passes
only for text none of them could change, and the time stamp is formatted once per second."""

from __future__ import annotations

import io
import logging

import pytest

from common.logs import _BEARER, _HEADER_VALUE, _SECRET_PATTERN, REDACTED, log_handler, mask_secrets

SECRET = "a-configured-secret-1234"


def mask_the_long_way(text: str) -> str:
    """mask_secrets as it was: every pattern on every text."""
    text = text.replace(SECRET, REDACTED)
    text = _SECRET_PATTERN.sub("sk-ant-" + REDACTED, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    return _HEADER_VALUE.sub(r"\1" + REDACTED, text)


@pytest.mark.parametrize(
    "text",
    [
        '127.0.0.1 "POST /v1/chat/completions HTTP/1.1" 200 612 0.001234s',
        "plain words, nothing secret at all",
        "",
        "Authorization: Bearer abcdefghijkl",
        "AUTHORIZATION=xyz123456",
        "headers {'x-api-key': 'k-123456789'}",
        "X-API-KEY: value-123456",
        "bearer token-abcdef",
        "the key sk-ant-api03-abcdefghij leaked",
        "SK-ANT-API03-ABCDEFGH is not the pattern's case",
        f"the configured {SECRET} inside",
        "AUTHOR\u0131ZATION: with-a-dotless-i-123",  # regex case folding pairs U+0131 with i
        "x-api-\u212aey: kelvin-sign-key-123",  # and the Kelvin sign with k
        "ünïcödé text and Bearer zzzzzzzzz",
        "ünïcödé text with nothing",
    ],
)
def test_masking_equals_the_long_way(text: str) -> None:
    assert mask_secrets(text, [SECRET]) == mask_the_long_way(text)


def test_lines_with_credentials_are_masked_by_the_short_way_too() -> None:
    assert mask_secrets("AUTHOR\u0131ZATION: s-value-1") == f"AUTHOR\u0131ZATION: {REDACTED}"
    assert mask_secrets("x-api-\u212aey: secret-value-2") == f"x-api-\u212aey: {REDACTED}"


def record_at(created: float) -> logging.LogRecord:
    record = logging.makeLogRecord({"msg": "m", "request_id": "-"})
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


def test_the_stamp_is_loggings_own_across_second_boundaries() -> None:
    formatter = log_handler("test", [], io.StringIO()).formatter
    assert formatter is not None
    reference = logging.Formatter()
    for created in (1000.999, 1001.0, 1001.5, 1000.2, 1_700_000_000.123, 1001.999):
        record = record_at(created)
        assert formatter.formatTime(record) == reference.formatTime(record)
    record = record_at(1001.25)
    assert formatter.formatTime(record, "%H") == reference.formatTime(record, "%H")
