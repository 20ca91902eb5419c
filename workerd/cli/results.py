"""Pure: the CLI's failed `result` line as a neutral error (docs/claude-cli.md, "Errors and
retries"): API failures arrive as `is_error` results with the upstream status, or with the
synthetic assistant message's error category when there is none. Its usage is mapped by the
codec (workerd/anthropic/stream.usage_of)."""

from __future__ import annotations

import logging
from typing import Any

from common.errors import make_error, without_addresses
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.anthropic.status import status_code

logger = logging.getLogger(__name__)

_CATEGORY_CODES: dict[str, int] = {
    "rate_limit": pb.RATE_LIMITED,
    "authentication_failed": pb.UPSTREAM_AUTH,
    "server_error": pb.UPSTREAM_ERROR,
    "model_not_found": pb.MODEL_NOT_FOUND,
}


def result_error(
    obj: dict[str, Any], category: str, reset_s: int, now_ms: int, retry_delay_ms: int = 0
) -> pb.Event:
    """The Error event of an `is_error` result; `reset_s` is a refused usage window's reset,
    `retry_delay_ms` the CLI's last wait after a 429 (the upstream's `retry-after`)."""
    status = obj.get("api_error_status")
    text = str(
        obj.get("result") or "; ".join(map(str, obj.get("errors") or [])) or "the CLI failed"
    )
    text = mask_secrets(text)
    logger.warning("the CLI's turn failed: %s", text)  # the whole text, addresses too
    text = without_addresses(text)
    code: int
    if "prompt is too long" in text.lower():
        code = pb.CONTEXT_TOO_LONG
    elif isinstance(status, int):
        code = status_code(status)
    else:
        code = _CATEGORY_CODES.get(category, pb.UPSTREAM_ERROR)
    retry_ms = 0
    if code == pb.RATE_LIMITED and reset_s:
        retry_ms = max(0, reset_s * 1000 - now_ms)
    elif code == pb.RATE_LIMITED:
        retry_ms = retry_delay_ms
    return make_error(code, text, retry_after_ms=retry_ms, upstream_status=status or 0)
