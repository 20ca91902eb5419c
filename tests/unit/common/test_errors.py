"""common/errors.py: the ErrorCode -> HTTP status / OpenAI type table, and error events."""

from __future__ import annotations

import grpc
import pytest

from common.errors import (
    error_code_name,
    make_error,
    no_json_answer,
    wire_error,
    without_addresses,
)
from frontdoor.core.errors import CONTROLLER_UNAVAILABLE, ApiError, rpc_error
from protos import common_pb2 as pb
from workerd.cli.results import result_error

EXPECTED_STATUS: dict[int, int] = {
    pb.INVALID_REQUEST: 400,
    pb.MODEL_NOT_FOUND: 404,
    pb.RATE_LIMITED: 429,
    pb.QUEUE_FULL: 503,
    pb.QUEUE_TIMEOUT: 503,
    pb.NO_WORKER_CONFIGURED: 503,
    pb.NO_WORKER_AVAILABLE: 503,
    pb.UPSTREAM_ERROR: 502,
    pb.UPSTREAM_OVERLOADED: 503,
    pb.UPSTREAM_AUTH: 502,
    pb.WORKER_CRASHED: 502,
    pb.TIMEOUT: 504,
    pb.CONTEXT_TOO_LONG: 400,
    pb.CANCELLED: 499,
    pb.INTERNAL: 500,
    pb.OUTPUT_INVALID: 422,
    pb.PERMISSION_DENIED: 403,
    pb.QUOTA_EXHAUSTED: 429,
    pb.REQUEST_TOO_LARGE: 413,
}
UNKNOWN_CODE = 9999


def test_expectations_cover_every_error_code() -> None:
    codes = {value for value in pb.ErrorCode.values() if value != pb.ERROR_CODE_UNSPECIFIED}
    assert codes == set(EXPECTED_STATUS)


@pytest.mark.parametrize(("code", "status"), sorted(EXPECTED_STATUS.items()))
def test_every_code_has_its_status(code: int, status: int) -> None:
    wire = wire_error(code)
    assert wire.http_status == status
    assert wire.openai_type
    assert wire.openai_type.replace("_", "").isalpha()


@pytest.mark.parametrize("code", sorted(set(EXPECTED_STATUS) - {pb.INTERNAL}))
def test_every_code_has_its_own_entry_not_the_fallback(code: int) -> None:
    assert wire_error(code) != wire_error(UNKNOWN_CODE)


def test_unknown_and_unspecified_codes_fall_back_to_internal_500() -> None:
    for code in (UNKNOWN_CODE, pb.ERROR_CODE_UNSPECIFIED, -1):
        wire = wire_error(code)
        assert wire.http_status == 500
        assert wire.openai_type == "internal_error"
        assert not wire.retryable


def test_queue_full_and_queue_timeout_are_distinguishable() -> None:
    full, timeout = wire_error(pb.QUEUE_FULL), wire_error(pb.QUEUE_TIMEOUT)
    assert full.http_status == timeout.http_status == 503
    assert full.openai_type != timeout.openai_type
    assert full.openai_code != timeout.openai_code


def test_client_errors_are_not_retried_on_another_worker() -> None:
    for code in (pb.INVALID_REQUEST, pb.MODEL_NOT_FOUND, pb.CONTEXT_TOO_LONG, pb.CANCELLED):
        assert not wire_error(code).retryable, pb.ErrorCode.Name(code)


def test_an_answer_not_in_the_asked_form_is_retried_by_no_one() -> None:
    """Not on another worker, and not by SDKs (they retry 408, 409, 429 and 5xx)."""
    wire = wire_error(pb.OUTPUT_INVALID)
    assert not wire.retryable
    assert wire.http_status == 422
    event = no_json_answer("  Sure! Here is the weather.  ")
    assert event.error.code == pb.OUTPUT_INVALID and event.error.param == "response_format"
    assert event.error.message.endswith("it wrote: Sure! Here is the weather.")


def test_worker_side_failures_are_retryable() -> None:
    for code in (
        pb.RATE_LIMITED,
        pb.UPSTREAM_ERROR,
        pb.UPSTREAM_OVERLOADED,
        pb.UPSTREAM_AUTH,
        pb.WORKER_CRASHED,
    ):
        assert wire_error(code).retryable, pb.ErrorCode.Name(code)


def test_openai_codes_for_well_known_errors() -> None:
    assert wire_error(pb.MODEL_NOT_FOUND).openai_code == "model_not_found"
    assert wire_error(pb.RATE_LIMITED).openai_type == "rate_limit_error"
    assert wire_error(pb.CONTEXT_TOO_LONG).openai_code == "context_length_exceeded"
    assert wire_error(pb.INVALID_REQUEST).openai_type == "invalid_request_error"


def test_error_code_name() -> None:
    assert error_code_name(pb.QUEUE_TIMEOUT) == "QUEUE_TIMEOUT"
    assert error_code_name(pb.WORKER_CRASHED) == "WORKER_CRASHED"
    assert error_code_name(UNKNOWN_CODE) == "INTERNAL"


def test_make_error_fills_every_field() -> None:
    event = make_error(
        pb.RATE_LIMITED, "slow down", param="model", retry_after_ms=1500, upstream_status=429
    )
    assert event.WhichOneof("kind") == "error"
    assert event.error.code == pb.RATE_LIMITED
    assert event.error.message == "slow down"
    assert event.error.param == "model"
    assert event.error.retry_after_ms == 1500
    assert event.error.upstream_status == 429


def test_make_error_defaults() -> None:
    event = make_error(pb.INTERNAL, "boom")
    assert event.error.param == ""
    assert event.error.retry_after_ms == 0
    assert event.error.upstream_status == 0


def test_api_error_from_event_uses_the_table() -> None:
    error = ApiError.from_event(
        make_error(pb.MODEL_NOT_FOUND, "no such model", param="model").error
    )
    assert error.status == 404
    assert error.body() == {
        "error": {
            "message": "no such model",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
    assert error.headers() == {}


def test_api_error_retry_after_rounds_up_to_seconds() -> None:
    error = ApiError.from_event(make_error(pb.RATE_LIMITED, "x", retry_after_ms=1001).error)
    assert error.status == 429
    assert error.headers()["Retry-After"] == "2"


@pytest.mark.parametrize("code", [pb.RATE_LIMITED, pb.QUEUE_FULL, pb.NO_WORKER_AVAILABLE])
def test_api_error_429_and_503_always_carry_retry_after(code: int) -> None:
    error = ApiError.from_event(make_error(code, "busy").error)
    assert error.headers().get("Retry-After") == "1"


def test_api_error_without_message_or_param() -> None:
    error = ApiError.from_event(make_error(pb.UPSTREAM_ERROR, "").error)
    assert error.status == 502
    assert error.message
    assert error.param is None
    assert "Retry-After" not in error.headers()


@pytest.mark.parametrize(
    "text",
    [
        "API Error: Connection error. Check your inference gateway (127.0.0.1:52893)",
        "upstream connect error to http://10.1.2.3:8080/v1/messages",
        "proxy at https://gateway.internal.example/path failed",
        "dial tcp [::1]:443: connection refused",
        "cannot reach localhost:9000",
        "gateway llm-gw.corp.local:8443 timed out",
    ],
)
def test_client_error_text_names_no_address(text: str) -> None:
    public = without_addresses(text)
    for address in ("127.0.0.1", "52893", "10.1.2.3", "gateway.internal", "::1", "localhost:9000"):
        assert address not in public
    assert "llm-gw.corp.local" not in public
    assert "the upstream" in public


def test_text_without_addresses_is_unchanged() -> None:
    text = "prompt is too long: 250000 tokens > 200000 maximum (send a data: URL, v2.1)"
    assert without_addresses(text) == text


def test_a_cli_error_result_tells_the_client_what_failed_not_where() -> None:
    result = {"is_error": True, "result": "API Error: Connection error (127.0.0.1:52893)"}
    event = result_error(result, "", 0, 0)
    assert event.error.code == pb.UPSTREAM_ERROR
    assert event.error.message == "API Error: Connection error (the upstream)"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 503),
    ],
)
def test_a_failed_controller_call_is_one_client_error(code: grpc.StatusCode, status: int) -> None:
    """One translation for every call the frontdoor makes to the controller."""
    failure = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "no such pid")
    error = rpc_error(failure)
    assert error.status == status
    if status == 503:
        assert error.message == CONTROLLER_UNAVAILABLE and error.retry_after_s == 2
    else:
        assert error.message == "no such pid"
