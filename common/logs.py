"""Logging set-up for every process: stderr, request id on each line, secrets masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# Anthropic credentials have recognisable prefixes; mask them even if one slips into a message.
_SECRET_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")


class _ContextFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        message = record.getMessage()
        masked = mask_secrets(message, self._secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET_PATTERN.sub("sk-ant-[redacted]", text)


def configure_logging(service: str, secrets: Iterable[str] = (), level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter(secrets))
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s {service} [%(request_id)s] %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
