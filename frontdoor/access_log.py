"""The access log: one line per answered request, built directly rather than by aiohttp's
AccessLogger (which compiles a format into a list of formatter calls, builds an `extra` dict per
line and lets logging find the caller's frame). Every request passes through here."""

from __future__ import annotations

import logging
import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from frontdoor.auth.identity import IDENTITY

FORMAT = '%a "%r" %s %b %Tfs'
"""What each line holds, in aiohttp's notation: client address, request line, status, bytes
sent, seconds taken (`127.0.0.1 "POST /v1/chat/completions HTTP/1.1" 200 612 0.001234s`); an
authenticated request's line then names its key (` key=ci`, never the secret)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._()@+-]")
"""What a key's name may not put in a log line as it is (spaces, quotes, control characters)."""


class AccessLog(AbstractAccessLogger):
    """Writes FORMAT's line at INFO on the access logger; the log's own handler masks it (the
    request line is the client's text). The format is fixed: aiohttp's access_log_format is
    not read."""

    def __init__(self, logger: logging.Logger, log_format: str = FORMAT) -> None:
        super().__init__(logger, FORMAT)

    @property
    def enabled(self) -> bool:
        # aiohttp asks once per connection: no line is built when INFO is off.
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        try:
            self._emit(access_line(request, response, time))
        except Exception:
            self.logger.exception("Error in logging")

    def _emit(self, line: str) -> None:
        # makeRecord + handle is logger.info without the search for the caller's frame, which
        # here would only ever name aiohttp's web_protocol.py.
        record = self.logger.makeRecord(self.logger.name, logging.INFO, "", 0, line, (), None)
        self.logger.handle(record)


def access_line(request: BaseRequest, response: StreamResponse, time: float) -> str:
    """FORMAT's line for one request (`time` in seconds), and the key that made it."""
    version = request.version
    first_line = f"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}"
    line = (
        f'{request.remote or "-"} "{first_line}" {response.status} {response.body_length} '
        f"{time:06f}s"
    )
    identity = request.get(IDENTITY)
    if identity is None:
        return line
    return f"{line} key={_UNSAFE.sub('_', identity.name[:64]) or identity.key_id}"
