"""frontdoor/core/body.py, the pure parts: the content coding a body names, the refusals made
before a body is read (declared length, Expect) and decoding under a size limit."""

from __future__ import annotations

import gzip
import zlib

import pytest

from frontdoor.core.body import content_coding, continue_refusal, declared_length_refusal, decode
from frontdoor.core.errors import ApiError

TEXT = b'{"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}'
LIMIT = 1000


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        ("", "identity"),
        ("identity", "identity"),
        ("gzip", "gzip"),
        ("GZip", "gzip"),
        ("x-gzip", "gzip"),
        (" deflate ", "deflate"),
        ("gzip, identity", "gzip"),
    ],
)
def test_the_codings_taken(header: str, coding: str) -> None:
    assert content_coding(header) == coding


@pytest.mark.parametrize("header", ["br", "zstd", "compress", "gzip, deflate", "gzip, gzip"])
def test_other_codings_are_415_naming_the_header(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        content_coding(header)
    assert caught.value.status == 415
    assert caught.value.param == "Content-Encoding"
    assert repr(header) in caught.value.message


def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    assert declared_length_refusal(None, LIMIT) is None
    assert declared_length_refusal(LIMIT, LIMIT) is None
    refusal = declared_length_refusal(10 * 1024**3, LIMIT)
    assert refusal is not None and refusal.status == 413
    assert "request body too large" in refusal.message and "10737418240" in refusal.message


def test_continue_is_refused_for_a_length_over_the_limit_or_another_expectation() -> None:
    assert continue_refusal("100-continue", 10, LIMIT) is None
    assert continue_refusal("100-Continue", None, LIMIT) is None
    over = continue_refusal("100-continue", LIMIT + 1, LIMIT)
    assert over is not None and over.status == 413
    other = continue_refusal("200-ok", 10, LIMIT)
    assert other is not None and (other.status, other.param) == (417, "Expect")


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("identity", TEXT),
        ("gzip", gzip.compress(TEXT)),
        ("gzip", gzip.compress(TEXT[:20]) + gzip.compress(TEXT[20:])),  # two members
        ("deflate", zlib.compress(TEXT)),  # the zlib wrapper RFC 9110 names
        ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as many clients send it
        ("gzip", b""),
    ],
)
def test_bodies_decode(coding: str, encoded: bytes) -> None:
    assert decode(encoded, coding, LIMIT) == (TEXT if encoded else b"")


@pytest.mark.parametrize(
    ("coding", "encoded", "detail"),
    [
        ("gzip", TEXT, "incorrect header check"),  # not compressed at all
        ("deflate", TEXT, "Error"),
        ("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 20, "Error"),  # a broken gzip header
        ("gzip", gzip.compress(TEXT)[:-10], "ends inside"),
        ("gzip", gzip.compress(TEXT) + b"junk", "Error"),
        ("deflate", zlib.compress(TEXT) + b"junk", "data follows"),
    ],
)
def test_a_body_not_in_its_coding_is_400_naming_the_header(
    coding: str, encoded: bytes, detail: str
) -> None:
    with pytest.raises(ApiError) as caught:
        decode(encoded, coding, LIMIT)
    assert caught.value.status == 400
    assert caught.value.param == "Content-Encoding"
    assert f"(Content-Encoding: {coding})" in caught.value.message
    assert detail in caught.value.message


def test_decoding_stops_past_the_limit() -> None:
    assert decode(gzip.compress(b" " * LIMIT), "gzip", LIMIT) == b" " * LIMIT
    bomb = gzip.compress(b"\0" * (100 * LIMIT))
    with pytest.raises(ApiError) as caught:
        decode(bomb, "gzip", LIMIT)
    assert caught.value.status == 413
    assert f"decodes to more than {LIMIT} bytes" in caught.value.message
