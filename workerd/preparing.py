"""Turning a request into a run (a CLI invocation, an API call's body): off the event loop when
the request is large, and never an exception for the request's content.

The build is pure CPU: a request of many messages or much text takes long enough (seconds for
hundreds of thousands of messages) that, on the loop, the worker's health check and every other
request would wait for it. Above OFF_LOOP_MESSAGES messages or OFF_LOOP_CHARS characters of text
it runs in a thread; below, the hop would cost more than the build.

A thread alone is not enough: such a build makes millions of objects, and each full collection
of the cycle collector their growth sets off holds the GIL (so the loop) for up to a second, to
find nothing (they are trees, freed by reference counting). So the collector is paused during
the build and what exists then is frozen (`gc.freeze`: never scanned, still freed as usual)
until the last large run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from protos import common_pb2 as pb
from workerd.errors import UnservableRequest, request_fault

OFF_LOOP_MESSAGES = 200
OFF_LOOP_CHARS = 1_000_000
T = TypeVar("T")


class _Frozen:
    """How many runs hold objects frozen out of the cycle collector's scans."""

    runs = 0


@contextlib.asynccontextmanager
async def prepared(build: Callable[[], T], request: pb.ChatRequest) -> AsyncIterator[T | pb.Event]:
    """What `build()` makes of `request`, or the error event that ends its run, for the body
    of the `async with` (the run)."""
    large = is_large(request)
    _Frozen.runs += large
    built: T | pb.Event
    try:
        try:
            built = await asyncio.to_thread(_frozen_build, build) if large else build()
        except UnservableRequest as exc:
            built = exc.event()
        except Exception as exc:  # from the request's content: its 400 (errors.py)
            built = request_fault(exc)
        yield built
    finally:
        _Frozen.runs -= large
        if large and _Frozen.runs == 0:
            gc.unfreeze()  # what is left of the runs is scanned again; cycles collected


def _frozen_build(build: Callable[[], T]) -> T:
    enabled = gc.isenabled()
    gc.disable()
    try:
        built = build()
        gc.freeze()
        return built
    finally:
        if enabled:
            gc.enable()


def is_large(request: pb.ChatRequest) -> bool:
    """Worth a thread: many messages, or much text (counted over a few messages at most)."""
    messages = request.messages
    if len(messages) > OFF_LOOP_MESSAGES:
        return True
    chars = 0
    for message in messages:
        for block in message.content:
            chars += len(block.text) + len(block.tool_use.arguments_json)
            chars += len(block.tool_result.content) + len(block.image.data)
    return chars > OFF_LOOP_CHARS
