"""Pure: what can go wrong with a Messages API call, and each failure as an error event.

The upstream client (upstream.py) raises only these exceptions (or ValueError for a body that
is not the API's JSON), so the mapping onto internal error codes lives here, without I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from common.errors import ANTHROPIC_TYPE_STATUS, make_error, without_addresses
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.anthropic.status import status_code

MAX_ERROR_TEXT = 2000


class UpstreamError(Exception):
    """A Messages API call that did not give an answer."""


class UpstreamStatusError(UpstreamError):
    """An error status, or an `error` event inside a 200 stream (status 200 then)."""

    def __init__(
        self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {kind}: {message}")
        self.status = status
        self.kind = kind
        self.message = message
        self.headers: Mapping[str, str] = headers or {}

    @classmethod
    def from_body(
        cls, status: int, body: bytes | str, headers: Mapping[str, str] | None = None
    ) -> UpstreamStatusError:
        """From the API's error JSON (`{"type": "error", "error": {"type", "message"}}`), or
        from whatever else a proxy on the way answered with."""
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict):
            return cls(
                status, str(error.get("type") or ""), str(error.get("message") or ""), headers
            )
        return cls(status, "", text.strip()[:MAX_ERROR_TEXT], headers)


class UpstreamUnreachable(UpstreamError):
    """No response at all: the connection could not be made or broke before the headers."""


class UpstreamBroken(UpstreamError):
    """The connection broke while the answer was streaming."""


def error_event(exc: BaseException, secrets: Iterable[str] = ()) -> pb.Event:
    """A failed call as an error event; the message never carries a credential or address."""
    if isinstance(exc, UpstreamStatusError):
        return _status_event(exc, secrets)
    if isinstance(exc, UpstreamUnreachable):
        return make_error(pb.UPSTREAM_ERROR, "cannot reach the Anthropic API (connection error)")
    if isinstance(exc, UpstreamBroken):
        return make_error(pb.UPSTREAM_ERROR, f"the connection to the Anthropic API broke ({exc})")
    if isinstance(exc, TimeoutError):
        return make_error(pb.TIMEOUT, "the Anthropic API did not answer in time")
    if isinstance(exc, ValueError):
        return make_error(pb.UPSTREAM_ERROR, "the Anthropic API sent a response that is not valid")
    return make_error(pb.UPSTREAM_ERROR, f"Anthropic API call failed ({type(exc).__name__})")


def _status_event(exc: UpstreamStatusError, secrets: Iterable[str]) -> pb.Event:
    status = exc.status
    if status < 400:  # an `error` event inside a 200 stream
        status = ANTHROPIC_TYPE_STATUS.get(exc.kind, 500)
    detail = exc.message or exc.kind or "no detail"
    text = mask_secrets(f"Anthropic API error {status} ({exc.kind or 'error'}): {detail}", secrets)
    code = pb.CONTEXT_TOO_LONG if "prompt is too long" in detail.lower() else status_code(status)
    return make_error(
        code,
        without_addresses(text)[:MAX_ERROR_TEXT],
        retry_after_ms=retry_after_ms(exc.headers),
        upstream_status=status,
    )


def retry_after_ms(headers: Mapping[str, str]) -> int:
    """`retry-after-ms` or `retry-after` (seconds); 0 when absent or not a number."""
    for name, scale in (("retry-after-ms", 1.0), ("retry-after", 1000.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if value >= 0:
            return int(value * scale)
    return 0
