"""frontdoor/connections.py, the pure parts: counting connections per address and in total, the
caps fitted under the descriptor limit, what an address is counted by, the refusal's bytes."""

from __future__ import annotations

import json

import pytest

from frontdoor.connections import (
    RESERVED_DESCRIPTORS,
    ConnectionCounter,
    ConnectionLimits,
    address_key,
    fitting_limits,
    refusal_answer,
    request_path,
)
from frontdoor.core.errors import ApiError


def test_an_address_gets_its_cap_and_no_more() -> None:
    counter = ConnectionCounter(ConnectionLimits(total=10, per_address=2))
    assert counter.admit("10.0.0.1") is None
    assert counter.admit("10.0.0.1") is None
    refusal = counter.admit("10.0.0.1")
    assert refusal is not None and refusal.status == 503
    assert refusal.code == "too_many_connections" and refusal.retry_after_s == 1
    assert "MAX_CONNECTIONS_PER_ADDRESS" in refusal.message
    assert counter.admit("10.0.0.2") is None  # another address is not held back
    assert (counter.total, counter.open_from("10.0.0.1")) == (3, 2)


def test_the_total_cap_holds_across_addresses() -> None:
    counter = ConnectionCounter(ConnectionLimits(total=2, per_address=2))
    assert counter.admit("a") is None
    assert counter.admit("b") is None
    refusal = counter.admit("c")
    assert refusal is not None and "(MAX_CONNECTIONS)" in refusal.message
    assert counter.total == 2 and counter.open_from("c") == 0


def test_a_released_connection_makes_room_and_leaves_no_entry() -> None:
    counter = ConnectionCounter(ConnectionLimits(total=1, per_address=1))
    assert counter.admit("a") is None
    counter.release("a")
    assert (counter.total, counter.open_from("a")) == (0, 0)
    assert counter.admit("b") is None


@pytest.mark.parametrize(
    ("configured", "descriptors", "fitted"),
    [
        ((4096, 1024), 1_048_576, ConnectionLimits(4096, 1024)),
        ((4096, 1024), 1024, ConnectionLimits(1024 - RESERVED_DESCRIPTORS, 1024 - 128)),
        ((4096, 8192), 100_000, ConnectionLimits(4096, 4096)),  # no address gets more than all
        ((10, 5), 10, ConnectionLimits(1, 1)),  # never zero
    ],
)
def test_the_caps_fit_under_the_descriptor_limit(
    configured: tuple[int, int], descriptors: int, fitted: ConnectionLimits
) -> None:
    assert fitting_limits(*configured, descriptors) == fitted


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        (("192.0.2.7", 51000), "192.0.2.7"),
        (("::ffff:192.0.2.7", 51000, 0, 0), "192.0.2.7"),
        (("2001:db8:1:2:aaaa::1", 51000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:bbbb::9", 51000, 0, 0), "2001:db8:1:2::/64"),  # the same host's prefix
        (("fe80::1%eth0", 51000, 0, 2), "fe80::/64"),
        ("", ""),  # a unix socket's peer
        (None, ""),
    ],
)
def test_what_a_connection_is_counted_by(peer: object, key: str) -> None:
    assert address_key(peer) == key


@pytest.mark.parametrize(
    ("head", "path"),
    [
        (b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\n\r\n", "/v1/messages"),
        (
            b"GET http://proxy:8403/v1/messages/count_tokens HTTP/1.1\r\n",
            "/v1/messages/count_tokens",
        ),
        (b"POST /v1/chat/completions HTTP/1.1\n", "/v1/chat/completions"),
        (b"", ""),
        (b"garbage", ""),
    ],
)
def test_the_path_of_a_request_head(head: bytes, path: str) -> None:
    assert request_path(head) == path


def _split(answer: bytes) -> tuple[str, dict[str, str], object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    assert int(headers["Content-Length"]) == len(body)
    return status, headers, json.loads(body)


def test_a_refusal_is_a_whole_answer_in_the_openai_shape_that_closes() -> None:
    error = ApiError(
        503, "full", "service_unavailable", code="too_many_connections", retry_after_s=1
    )
    status, headers, body = _split(refusal_answer(error, b"POST /v1/chat/completions HTTP/1.1\r\n"))
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert headers["Connection"] == "close" and headers["Retry-After"] == "1"
    assert body == {
        "error": {
            "message": "full",
            "type": "service_unavailable",
            "param": None,
            "code": "too_many_connections",
        }
    }


def test_a_refusal_on_the_messages_door_takes_anthropics_shape() -> None:
    error = ApiError(503, "full", "service_unavailable")
    _, _, body = _split(refusal_answer(error, b"POST /v1/messages HTTP/1.1\r\n"))
    assert body == {"type": "error", "error": {"type": "overloaded_error", "message": "full"}}
