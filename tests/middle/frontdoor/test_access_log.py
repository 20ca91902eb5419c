"""frontdoor/access_log.py: the lean access log writes aiohttp's line for the same format, on
the access logger, and through the processes' handler a credential in the URL stays masked."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request
from aiohttp.web_log import AccessLogger

from common.logs import log_handler
from frontdoor.access_log import FORMAT, AccessLog, access_line
from frontdoor.app import create_app, server_options
from frontdoor.auth.identity import IDENTITY, Identity
from tests.middle.frontdoor_edge import TOKEN, ScriptedController, edge_config
from tests.middle.inprocess import short_state_dir

pytestmark = pytest.mark.middle


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access() -> Iterator[tuple[logging.Logger, Lines]]:
    logger = logging.getLogger("test_access_log")
    lines = Lines()
    logger.addHandler(lines)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger, lines
    finally:
        logger.removeHandler(lines)
        logger.propagate = True


def answered(path: str, status: int, body: bytes) -> tuple[web.Request, web.Response]:
    request = make_mocked_request("POST", path)
    response = web.Response(status=status, body=body)
    response._body_length = len(body) + 120  # as if sent: what %b reports
    return request, response


@pytest.mark.parametrize(
    ("path", "status", "took"),
    [
        ("/v1/chat/completions", 200, 0.001234),
        ("/v1/models/claude?x=1&y=%20z", 404, 12.5),
        ("/health", 503, 0.0),
    ],
)
def test_the_line_is_aiohttps_for_the_same_format(
    access: tuple[logging.Logger, Lines], path: str, status: int, took: float
) -> None:
    logger, lines = access
    request, response = answered(path, status, b"{}")
    AccessLogger(logger, FORMAT).log(request, response, took)
    AccessLog(logger).log(request, response, took)
    theirs, ours = (record.getMessage() for record in lines.records)
    assert ours == theirs
    assert ours == access_line(request, response, took)
    assert all(record.levelno == logging.INFO for record in lines.records)


def test_nothing_is_built_when_info_is_off(access: tuple[logging.Logger, Lines]) -> None:
    logger, _ = access
    logger.setLevel(logging.WARNING)
    assert not AccessLog(logger).enabled
    logger.setLevel(logging.INFO)
    assert AccessLog(logger).enabled


def test_a_credential_in_the_url_is_masked_in_the_written_line() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("test_access_log.masked")
    handler = log_handler("frontdoor", [TOKEN], buffer)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        request, response = answered(f"/v1/models?key={TOKEN}&k=sk-ant-api03-abcdefgh", 404, b"")
        AccessLog(logger).log(request, response, 0.5)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = buffer.getvalue()
    assert '"POST /v1/models?key=[redacted]&k=sk-ant-[redacted] HTTP/1.1" 404' in text
    assert TOKEN not in text and "abcdefgh" not in text


async def test_the_served_app_writes_one_line_per_request(
    access: tuple[logging.Logger, Lines],
) -> None:
    _, lines = access
    server_log = logging.getLogger("aiohttp.access")
    server_log.addHandler(lines)
    saved = server_log.level
    server_log.setLevel(logging.INFO)
    try:
        with short_state_dir() as root:
            app = create_app(edge_config(Path(root)), ScriptedController())  # type: ignore[arg-type]
            server = TestServer(app, host="127.0.0.1")
            # start_server takes the runner's options (TestServer's own keywords are dropped)
            # and sets handler_cancellation itself.
            options = {k: v for k, v in server_options(app).items() if k != "handler_cancellation"}
            await server.start_server(**options)
            try:
                async with aiohttp.ClientSession() as session:
                    url = f"http://127.0.0.1:{server.port}/v1/models"
                    headers = {"Authorization": f"Bearer {TOKEN}"}
                    async with session.get(url, headers=headers) as response:
                        assert response.status == 200
                        await response.read()
            finally:
                await server.close()
    finally:
        server_log.removeHandler(lines)
        server_log.setLevel(saved)
    [line] = [record.getMessage() for record in lines.records]
    assert re.fullmatch(
        r'127\.0\.0\.1 "GET /v1/models HTTP/1\.1" 200 \d+ \d+\.\d{6}s key=\(bootstrap\)', line
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [("ci", "key=ci"), ('ali ce"\n', "key=ali_ce__"), ("(bootstrap)", "key=(bootstrap)")],
)
def test_the_line_names_the_key_never_the_secret(name: str, shown: str) -> None:
    request, response = answered("/v1/chat/completions", 200, b"{}")
    request[IDENTITY] = Identity("key_0123456789ab", name, "client")
    line = access_line(request, response, 0.5)
    assert line.endswith(f"0.500000s {shown}")
