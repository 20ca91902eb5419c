"""workerd/preparing.py and errors.py: whatever turning a request into a run raises is that
request's INVALID_REQUEST event, never an exception out of the Run stream."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from protos import common_pb2 as pb
from workerd.errors import CANNOT_PREPARE, UnservableRequest, request_fault
from workerd.preparing import OFF_LOOP_CHARS, OFF_LOOP_MESSAGES, is_large, prepared

T = TypeVar("T")


async def prepare(build: Callable[[], T], request: pb.ChatRequest) -> T | pb.Event:
    async with prepared(build, request) as made:
        return made


def ask(*texts: str) -> pb.ChatRequest:
    request = pb.ChatRequest(model="sonnet")
    for text in texts:
        request.messages.add(role=pb.ROLE_USER).content.add(text=text)
    return request


@pytest.mark.parametrize(
    ("exc", "why"),
    [
        (RecursionError("maximum recursion depth exceeded"), "nests too deeply"),
        (ValueError("Out of range float values are not JSON compliant"), "out of range"),
        (UnicodeEncodeError("utf-8", "\udc80", 0, 1, "surrogates not allowed"), "Unicode"),
        (OverflowError("int too large"), "out of range"),
        (KeyError("x"), "KeyError"),
    ],
)
async def test_an_exception_while_preparing_is_the_requests_400(exc: Exception, why: str) -> None:
    def build() -> str:
        raise exc

    event = await prepare(build, ask("hi"))

    assert isinstance(event, pb.Event)
    assert event.error.code == pb.INVALID_REQUEST
    assert event.error.message.startswith(CANNOT_PREPARE) and why in event.error.message


async def test_an_unservable_request_keeps_its_message_and_field() -> None:
    def build() -> str:
        raise UnservableRequest("no such thing", "tools")

    event = await prepare(build, ask("hi"))

    assert isinstance(event, pb.Event)
    assert (event.error.code, event.error.param) == (pb.INVALID_REQUEST, "tools")


async def test_a_large_request_is_built_off_the_event_loop() -> None:
    seen: list[str] = []

    def build() -> str:
        seen.append(threading.current_thread().name)
        return "built"

    assert await prepare(build, ask("hi")) == "built"
    assert await prepare(build, ask(*["x"] * (OFF_LOOP_MESSAGES + 1))) == "built"
    assert seen[0] == threading.main_thread().name and seen[1] != seen[0]


async def test_a_large_build_is_kept_from_the_cycle_collector_until_its_run_ends() -> None:
    large = ask(*["x"] * (OFF_LOOP_MESSAGES + 1))
    async with prepared(lambda: [[n] for n in range(1000)], large) as made:
        assert gc.isenabled() and gc.get_freeze_count() >= 1000
        async with prepared(lambda: "second", large):
            pass
        assert gc.get_freeze_count() >= 1000  # another run's end thaws nothing of this one's
    assert gc.get_freeze_count() == 0 and isinstance(made, list) and len(made) == 1000


def test_large_means_many_messages_or_much_text() -> None:
    assert not is_large(ask("x" * 100, "y"))
    assert is_large(ask(*["x"] * (OFF_LOOP_MESSAGES + 1)))
    assert is_large(ask("x" * (OFF_LOOP_CHARS + 1)))


def test_request_fault_is_invalid_request() -> None:
    assert request_fault(RecursionError()).error.code == pb.INVALID_REQUEST
