"""Logging set-up for every process: stderr, request id on each line, secrets masked.

Masking applies to the whole formatted line: the message, an exception's text, its traceback and
a stack, since a library's exception can carry a client's raw bytes (aiohttp puts a header line it
refuses into its error). Values that are JSON are masked value by value (`mask_json`), never by
rewriting their serialised text."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, TextIO

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

MIN_MASKED_SECRET = 8
"""A shorter secret is not masked by substring: it would mask ordinary text (and a token that
short is only accepted on a loopback bind)."""
REDACTED = "[redacted]"
# Anthropic credentials have recognisable prefixes; mask them even if one slips into a message.
_SECRET_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")
# The proxy's own keys (sk-ccp- and 43 url-safe characters): masked past the first four, which
# with the prefix are the part a key shows to be recognised by (KeyInfo.prefix, 11 characters).
_KEY_PATTERN = re.compile(r"(sk-ccp-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]+")
# A credential header's value, whoever's it is (a wrong token may be a right one elsewhere):
# `Bearer X`, and `x-api-key: X` / `Authorization: X` as a header line, a repr or JSON.
_BEARER = re.compile(r"(?i)(\bbearer\s+)[^\s'\"\\,;]+")
_HEADER_VALUE = re.compile(
    r"(?i)(\b(?:x-api-key|authorization)['\"]?\s*[:=]\s*['\"]?)(?!bearer\b)[^\s'\"\\,;]+"
)
_CREDENTIAL_WORDS = ("bearer", "x-api-key", "authorization")
"""The words _BEARER and _HEADER_VALUE need (case-insensitive), and _SECRET_PATTERN needs
`sk-ant-` (_KEY_PATTERN `sk-ccp-`): a text with none of them is not searched."""
_CLIENT_PROTOCOL_ERROR = "aiohttp.http_exceptions"


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _MaskingFormatter(logging.Formatter):
    """Formats as usual, then masks the whole text: message, exception and stack alike."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = tuple(secrets)
        self._stamp = (-1, "")  # (second, its text): one tuple, so threads see a matched pair

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's own stamp (`2025-01-31 12:00:00,123`), its date and time formatted once
        per second rather than for every line."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._stamp
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._stamp = (second, text)
        return f"{text},{int(record.msecs):03d}"  # logging.Formatter.default_msec_format

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__module__ == _CLIENT_PROTOCOL_ERROR:
            return mask_secrets(self._client_protocol_error(record, exc), self._secrets)
        return mask_secrets(super().format(record), self._secrets)

    def _client_protocol_error(self, record: logging.LogRecord, exc: BaseException) -> str:
        """A request aiohttp could not parse is the client's fault: one line, no traceback, and
        not the raw bytes the exception quotes (only the first line of its message)."""
        reason = str(getattr(exc, "message", "") or exc).strip().splitlines()
        brief = logging.makeLogRecord(
            {
                **record.__dict__,
                "levelno": logging.WARNING,
                "levelname": logging.getLevelName(logging.WARNING),
                "msg": "%s: %s",
                "args": (record.getMessage(), reason[0].rstrip(":") if reason else type(exc)),
                "exc_info": None,
                "exc_text": None,
                "stack_info": None,
            }
        )
        return super().format(brief)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret, credential-shaped string and credential header value
    replaced by [redacted]."""
    for secret in secrets:
        if len(secret) >= MIN_MASKED_SECRET:
            text = text.replace(secret, REDACTED)
    if not _may_hold_credential(text):
        return text
    text = _SECRET_PATTERN.sub("sk-ant-" + REDACTED, text)
    text = _KEY_PATTERN.sub(r"\1" + REDACTED, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    return _HEADER_VALUE.sub(r"\1" + REDACTED, text)


def _may_hold_credential(text: str) -> bool:
    """False only when none of the patterns can match: each needs one of their words.

    Every log line is masked, and most hold none of them; this costs a lowercase copy of the
    line where the three regex passes cost about thirty times that."""
    if not text.isascii():
        return True  # case-insensitive regex pairs more letters than str.lower (U+0131 with i)
    lowered = text.lower()
    return "sk-ant-" in text or "sk-ccp-" in text or any(w in lowered for w in _CREDENTIAL_WORDS)


def mask_json(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A JSON value with `mask_secrets` applied to every string in it (keys too); numbers,
    booleans and null are never touched, so the result serialises to valid JSON."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return mask_secrets(value, secrets)
    if isinstance(value, dict):
        return {mask_json(k, secrets): mask_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_json(item, secrets) for item in value]
    return value


def log_handler(service: str, secrets: Iterable[str], stream: TextIO) -> logging.Handler:
    """The handler every process logs through (on `stream`), secrets masked."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(
        _MaskingFormatter(
            f"%(asctime)s %(levelname)s {service} [%(request_id)s] %(name)s: %(message)s",
            secrets,
        )
    )
    return handler


def configure_logging(service: str, secrets: Iterable[str] = (), level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [log_handler(service, secrets, sys.stderr)]
    root.setLevel(level)
