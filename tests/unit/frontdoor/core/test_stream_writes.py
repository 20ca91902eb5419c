"""frontdoor/core/streaming.py: a stream write arms its time limit only when it could wait.

A write waits only while the transport has paused writing; the client that never reads is
still dropped (test_slow_clients.py), these pin when the limit may be skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from frontdoor.core.streaming import FRAMING_BYTES, _cannot_block

HIGH = 65_536


@dataclass
class Transport:
    buffered: int = 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return HIGH // 4, HIGH

    def get_write_buffer_size(self) -> int:
        return self.buffered


@dataclass
class Protocol:
    writing_paused: bool = False


@dataclass
class Request:
    transport: Transport | None = field(default_factory=Transport)
    protocol: Protocol = field(default_factory=Protocol)


def cannot_block(request: Request, size: int) -> bool:
    stub: Any = request
    return _cannot_block(stub, b"x" * size)


def test_a_small_write_to_an_idle_transport_cannot_block() -> None:
    assert cannot_block(Request(), 500)
    assert cannot_block(Request(Transport(buffered=HIGH - 500 - FRAMING_BYTES)), 500)


def test_a_write_that_may_fill_the_buffer_gets_the_limit() -> None:
    assert not cannot_block(Request(Transport(buffered=HIGH - 500)), 500)
    assert not cannot_block(Request(), HIGH)


def test_a_paused_transport_gets_the_limit_whatever_the_size() -> None:
    assert not cannot_block(Request(protocol=Protocol(writing_paused=True)), 1)


def test_a_closed_connection_goes_the_long_way() -> None:
    assert not cannot_block(Request(transport=None), 1)
