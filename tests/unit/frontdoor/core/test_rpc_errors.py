"""frontdoor/core/errors.py rpc_error: a call gRPC could not carry (RESOURCE_EXHAUSTED, from the
request's own size) is a 413 the client must not retry, never the retryable 503 of an
unavailable controller."""

from __future__ import annotations

import grpc

from frontdoor.core.errors import rpc_error


def failed(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def test_resource_exhausted_is_413_without_retry_after() -> None:
    error = rpc_error(failed(grpc.StatusCode.RESOURCE_EXHAUSTED, "trailing metadata too large"))
    assert error.status == 413
    assert error.retry_after_s is None and "Retry-After" not in error.headers()
    assert "too large" in error.message and "trailing metadata too large" in error.message
    assert error.anthropic_body()["error"]["type"] == "request_too_large"


def test_an_unavailable_controller_is_still_a_retryable_503() -> None:
    error = rpc_error(failed(grpc.StatusCode.UNAVAILABLE, "connection refused"))
    assert (error.status, error.retry_after_s) == (503, 2)
