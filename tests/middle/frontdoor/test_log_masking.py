"""Secrets never reach a log line: not in the message, not in an exception's text, not in a
traceback or a stack (common/logs.py), whoever logs them, aiohttp's own parser included."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.logs import log_handler, mask_secrets
from tests.middle.frontdoor_edge import TOKEN, start_edge

pytestmark = pytest.mark.middle

UNKNOWN = "a-credential-the-proxy-never-saw-7d1c"
WORKER_TOKEN = "sk-ant-oat01-worker-token-abcdef"


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the processes' own handler into a buffer."""
    buffer = io.StringIO()
    logger = logging.getLogger("test_log_masking")
    handler = log_handler("test", [TOKEN], buffer)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_exception_text_and_traceback_are_masked(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = log
    try:
        raise ValueError(f"header b'Authorization: Bearer {TOKEN}' and key {WORKER_TOKEN}")
    except ValueError:
        logger.exception("failed with %s", "an argument")
    text = buffer.getvalue()
    assert "Traceback" in text and "ValueError" in text and "an argument" in text
    assert TOKEN not in text and WORKER_TOKEN not in text and "[redacted]" in text


def test_stack_info_and_arguments_are_masked(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = log
    logger.warning("token %s here", TOKEN, stack_info=True)
    text = buffer.getvalue()
    assert "Stack (most recent call last)" in text
    assert TOKEN not in text


def test_a_record_keeps_its_arguments_for_other_handlers(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    """Masking happens in the handler's output, the record itself is not rewritten."""
    logger, buffer = log
    seen: list[logging.LogRecord] = []

    class Keeper(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keeper = Keeper()
    logger.addHandler(keeper)
    try:
        logger.info("count %d of %s", 3, TOKEN)
    finally:
        logger.removeHandler(keeper)
    assert seen[0].args == (3, TOKEN)
    assert "count 3 of [redacted]" in buffer.getvalue()


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {UNKNOWN}",
        f"authorization: bearer {UNKNOWN}",
        f"b'x-api-key: {UNKNOWN}\\x00'",
        f'{{"x-api-key": "{UNKNOWN}"}}',
        f"Authorization: {UNKNOWN}",
    ],
)
def test_credential_headers_are_masked_whatever_their_value(text: str) -> None:
    assert UNKNOWN not in mask_secrets(text)


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer " + TOKEN.encode() + b"\x00",
        b"Authorization: Bearer " + UNKNOWN.encode() + b"\x00",
        b"x-api-key: " + TOKEN.encode() + b"\x00",
        b"x-api-key: " + UNKNOWN.encode() + b"\x01",
        b"Authorization: Bearer " + TOKEN.encode() + b"\x7f",
    ],
)
async def test_a_malformed_credential_header_logs_no_credential(
    tmp_path: Path, header: bytes
) -> None:
    """aiohttp's parser refuses the header and logs the raw line in its exception's text."""
    buffer = io.StringIO()
    async for edge in start_edge(tmp_path, log_handler("frontdoor", [TOKEN], buffer)):
        raw = b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n" + header + b"\r\n\r\n"
        reply = await edge.send(raw)
        assert reply.status == 400
        assert edge.log.records  # the parser's complaint was logged ...
    text = buffer.getvalue()
    assert "Invalid header value char" in text  # ... and reached the log, masked
    assert TOKEN not in text and UNKNOWN not in text, text
    assert "Traceback" not in text  # a client's malformed request is one line, not a traceback
