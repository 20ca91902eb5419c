"""Frontdoor exceptions, rendered by one middleware in the shape of the door they came through.

ApiError                 any failure with an HTTP status and an OpenAI error type
 +-- from_event()        built from an internal Error event via common.errors
 +-- body()              OpenAI shape: {"error": {"message", "type", "param", "code"}}
 +-- anthropic_body()    Anthropic shape: {"type": "error", "error": {"type", "message"}}
"""

from __future__ import annotations

import math
from typing import Any

from common.errors import anthropic_type, wire_error
from protos import common_pb2 as pb


class ApiError(Exception):
    """A failure the client sees as `{"error": {...}}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str = "invalid_request_error",
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.retry_after_s = retry_after_s
        self.extra_headers: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.error_type!r}, {self.message!r})"

    @classmethod
    def from_event(cls, error: pb.Error) -> ApiError:
        wire = wire_error(error.code)
        retry_after = math.ceil(error.retry_after_ms / 1000) if error.retry_after_ms > 0 else None
        if retry_after is None and wire.http_status in (429, 503):
            retry_after = 1
        return cls(
            wire.http_status,
            error.message or "request failed",
            wire.openai_type,
            code=wire.openai_code,
            param=error.param or None,
            retry_after_s=retry_after,
        )

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def anthropic_body(self) -> dict[str, Any]:
        """The Messages API's error shape (it has no `param`: the message names the field);
        the type follows the status (common.errors)."""
        message = self.message
        if self.param and self.param not in message:
            message = f"{self.param}: {message}"
        return {"type": "error", "error": {"type": anthropic_type(self.status), "message": message}}

    def headers(self) -> dict[str, str]:
        retry = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s else {}
        return {**retry, **self.extra_headers}
