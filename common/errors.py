"""The one table mapping internal ErrorCode to HTTP status and each door's error type.

Errors travel inside the event stream (Event.error) so a failure before and after the first
token takes the same path; this table decides what the client finally sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from protos import common_pb2 as pb


@dataclass(frozen=True)
class WireError:
    """How one internal error code looks on the wire (OpenAI doors, and the Anthropic door)."""

    http_status: int
    openai_type: str
    openai_code: str | None
    retryable: bool  # worth retrying on another worker, when no output reached the client

    @property
    def anthropic_type(self) -> str:
        """The Messages API door's error type: Anthropic's type for this status."""
        return anthropic_type(self.http_status)


_TABLE: dict[int, WireError] = {
    pb.INVALID_REQUEST: WireError(400, "invalid_request_error", None, False),
    pb.MODEL_NOT_FOUND: WireError(404, "invalid_request_error", "model_not_found", False),
    pb.RATE_LIMITED: WireError(429, "rate_limit_error", "rate_limit_exceeded", True),
    pb.QUEUE_FULL: WireError(503, "queue_full", "queue_full", False),
    pb.QUEUE_TIMEOUT: WireError(503, "queue_timeout", "queue_timeout", False),
    pb.NO_WORKER_CONFIGURED: WireError(503, "service_unavailable", "no_worker_configured", False),
    pb.NO_WORKER_AVAILABLE: WireError(503, "service_unavailable", "no_worker_available", False),
    pb.UPSTREAM_ERROR: WireError(502, "upstream_error", None, True),
    pb.UPSTREAM_OVERLOADED: WireError(503, "overloaded_error", "overloaded", True),
    pb.UPSTREAM_AUTH: WireError(502, "upstream_auth_error", None, True),
    pb.WORKER_CRASHED: WireError(502, "worker_error", None, True),
    pb.TIMEOUT: WireError(504, "timeout", "timeout", False),
    pb.CONTEXT_TOO_LONG: WireError(400, "invalid_request_error", "context_length_exceeded", False),
    pb.CANCELLED: WireError(499, "cancelled", None, False),
    pb.INTERNAL: WireError(500, "internal_error", None, False),
    pb.OUTPUT_INVALID: WireError(422, "model_output_error", "output_invalid", False),
    # A key's own policy: another worker would answer the same, so neither is retried.
    pb.PERMISSION_DENIED: WireError(403, "permission_error", "permission_denied", False),
    pb.QUOTA_EXHAUSTED: WireError(429, "insufficient_quota", "insufficient_quota", False),
    pb.REQUEST_TOO_LARGE: WireError(413, "invalid_request_error", "request_too_large", False),
}
_FALLBACK = WireError(500, "internal_error", None, False)
# Anthropic's error types by HTTP status (the Messages API door); any other status is api_error.
ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",  # the client's body stopped arriving
    413: "request_too_large",
    415: "invalid_request_error",  # a Content-Encoding the proxy does not take
    417: "invalid_request_error",  # an Expect it does not meet
    422: "invalid_request_error",  # the answer cannot take the form asked for
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",  # queue full, no worker, upstream overloaded: come back later
    504: "timeout_error",
    529: "overloaded_error",
}
# The other way: the status an upstream `error` event inside a 200 stream stands for (it carries
# only its type).
ANTHROPIC_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
# HTTP errors the web server raises itself (no route, wrong method, body too large), as
# (OpenAI error type, message).
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    404: ("not_found_error", "unknown path"),
    405: ("invalid_request_error", "method not allowed"),
    413: ("invalid_request_error", "request body too large"),
}


# Where an upstream or gateway error names an address: URLs, IPv4/IPv6 with or without a port,
# localhost and host:port. The client learns what failed, never where (the log keeps it all).
_ADDRESS = re.compile(
    r"[a-z][a-z0-9+.-]*://[^\s)\]'\"<>]+"
    r"|\[[0-9a-f:.]+\](?::\d+)?"
    r"|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"
    r"|\blocalhost(?::\d+)?\b"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)+:\d{2,5}\b",
    re.IGNORECASE,
)
UPSTREAM_ADDRESS = "the upstream"


def without_addresses(text: str) -> str:
    """An upstream's error text fit for the client: every address replaced."""
    return _ADDRESS.sub(UPSTREAM_ADDRESS, text)


def wire_error(code: int) -> WireError:
    return _TABLE.get(code, _FALLBACK)


def anthropic_type(http_status: int) -> str:
    return ANTHROPIC_TYPES.get(http_status, "api_error")


def error_code_name(code: int) -> str:
    return str(pb.ErrorCode.Name(code)) if code in pb.ErrorCode.values() else "INTERNAL"


def make_error(
    code: int, message: str, *, param: str = "", retry_after_ms: int = 0, upstream_status: int = 0
) -> pb.Event:
    """An error event, ready to put on a stream."""
    return pb.Event(
        error=pb.Error(
            code=code,  # type: ignore[arg-type]
            message=message,
            param=param,
            retry_after_ms=retry_after_ms,
            upstream_status=upstream_status,
        )
    )


NO_JSON_ANSWER = "the model did not answer with JSON matching the requested schema"


def no_json_answer(prose: str) -> pb.Event:
    """A JSON answer was asked for and the model wrote text: a clear error carrying that text
    (never an empty success), which no one retries (it would fail the same way)."""
    text = prose.strip()
    message = f"{NO_JSON_ANSWER}; it wrote: {text[:1500]}" if text else NO_JSON_ANSWER
    return make_error(pb.OUTPUT_INVALID, message, param="response_format")
