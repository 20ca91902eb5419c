"""Frontdoor exceptions, rendered by one middleware in the shape of the door they came through.

ApiError                 any failure with an HTTP status and an OpenAI error type
 +-- from_event()        built from an internal Error event via common.errors
 +-- body()              OpenAI shape: {"error": {"message", "type", "param", "code"}}
 +-- anthropic_body()    Anthropic shape: {"type": "error", "error": {"type", "message"}}
rpc_error(), rpc_call()  a failed call to the controller, as the client sees it (the one place;
                         too_large_for_rpc() for one gRPC could not carry)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from common.errors import anthropic_type, wire_error
from protos import common_pb2 as pb
from protos import keys_pb2

logger = logging.getLogger(__name__)
R = TypeVar("R")
CONTROLLER_UNAVAILABLE = "the proxy's controller is unavailable; try again shortly"
_RPC_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request_error"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found_error"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "invalid_request_error"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "invalid_request_error"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_error"),
    # The controller's database refused a write the answer depends on (a stored response).
    grpc.StatusCode.ABORTED: (503, "service_unavailable"),
    # A controller older than this frontdoor: the call exists here, not there.
    grpc.StatusCode.UNIMPLEMENTED: (501, "not_implemented"),
}


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
        self.key_limits: keys_pb2.KeyLimits | None = None
        """A key's own limits refused it: the figures for the rate-limit headers."""

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.error_type!r}, {self.message!r})"

    @classmethod
    def from_event(cls, error: pb.Error) -> ApiError:
        wire = wire_error(error.code)
        retry_after = math.ceil(error.retry_after_ms / 1000) if error.retry_after_ms > 0 else None
        if retry_after is None and wire.http_status in (429, 503):
            retry_after = 1
        api_error = cls(
            wire.http_status,
            error.message or "request failed",
            wire.openai_type,
            code=wire.openai_code,
            param=error.param or None,
            retry_after_s=retry_after,
        )
        if error.HasField("key_limits"):
            api_error.key_limits = error.key_limits
        return api_error

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


def rpc_error(exc: grpc.aio.AioRpcError) -> ApiError:
    """A refused call keeps its reason (400, 403, 404, 409, 501); any other failure means the
    controller is unavailable (503, retry in 2 s)."""
    status, error_type = _RPC_STATUS.get(exc.code(), (0, ""))
    if status:
        return ApiError(status, exc.details() or exc.code().name, error_type)
    if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return too_large_for_rpc(exc.details())
    logger.warning("controller call failed: %s", exc.code().name)
    return ApiError(
        503,
        CONTROLLER_UNAVAILABLE,
        "service_unavailable",
        code="service_unavailable",
        retry_after_s=2,
    )


def too_large_for_rpc(details: str | None) -> ApiError:
    """RESOURCE_EXHAUSTED: a message or its metadata (an error echoing a client's string) was
    larger than gRPC carries. It comes from the request's own size, so trying again cannot
    help: a 413, never the retryable 503 of an unavailable controller."""
    logger.warning("controller call too large: %s", details)
    return ApiError(
        413,
        "the request is too large for the proxy to carry to its controller "
        f"({details or 'RESOURCE_EXHAUSTED'}); send shorter ids, names or content",
        code="request_too_large",
    )


async def rpc_call(method: Callable[..., Awaitable[R]], request: Any, deadline_s: float) -> R:
    """One unary call to the controller; its failure as the client sees it (rpc_error)."""
    try:
        return await method(request, timeout=deadline_s)
    except grpc.aio.AioRpcError as exc:
        raise rpc_error(exc) from None
