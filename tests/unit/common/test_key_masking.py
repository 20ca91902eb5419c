"""The proxy's own keys (sk-ccp-...) are masked in logs past the part a key is recognised by."""

from __future__ import annotations

import io
import logging

from common.logs import log_handler, mask_json, mask_secrets

SECRET = "sk-ccp-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdefg"


def test_a_key_is_masked_past_its_shown_prefix() -> None:
    assert mask_secrets(f"auth failed for {SECRET}.") == "auth failed for sk-ccp-AbCd[redacted]."
    assert mask_secrets(f"x={SECRET[:20]}") == "x=sk-ccp-AbCd[redacted]"


def test_the_prefix_alone_stays_readable() -> None:
    assert mask_secrets("key ci (sk-ccp-AbCd) revoked") == "key ci (sk-ccp-AbCd) revoked"


def test_a_key_in_json_and_in_a_written_line_is_masked() -> None:
    assert mask_json({"note": SECRET, "n": 5}) == {"note": "sk-ccp-AbCd[redacted]", "n": 5}
    buffer = io.StringIO()
    logger = logging.getLogger("test_key_masking")
    handler = log_handler("frontdoor", [], buffer)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("client sent %s in a query", SECRET)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert SECRET[11:] not in buffer.getvalue()
    assert "sk-ccp-AbCd[redacted] in a query" in buffer.getvalue()
