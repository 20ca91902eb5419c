"""The key watch: each list replaces the ring; a break is retried with a capped backoff that
starts over once a list arrives; no call while the controller's socket is missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from frontdoor.admin_client import KeyWatchFailed
from frontdoor.auth.keyring import KeyRing
from frontdoor.auth.watch import keep_ring
from protos import keys_pb2


class Stop(Exception):
    pass


class FakeAdmin:
    """Each watch plays the next of `rounds`: lists to send, then a failure (or an end)."""

    def __init__(self, rounds: list[tuple[list[int], bool]]) -> None:
        self.rounds = rounds
        self.opened = 0

    async def watch_keys(self) -> AsyncIterator[keys_pb2.KeyList]:
        versions, fails = self.rounds[self.opened] if self.opened < len(self.rounds) else ([], True)
        self.opened += 1
        for version in versions:
            yield keys_pb2.KeyList(version=version)
        if fails:
            raise KeyWatchFailed("UNAVAILABLE")


class Sleeps:
    def __init__(self, limit: int) -> None:
        self.delays: list[float] = []
        self.limit = limit

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) >= self.limit:
            raise Stop


async def run(admin: Any, ring: KeyRing, sleeps: Sleeps, there: bool = True) -> None:
    with pytest.raises(Stop):
        await keep_ring(admin, ring, lambda: there, sleeps, 0.2, 1.0)


async def test_lists_replace_the_ring_and_a_break_is_retried_with_backoff() -> None:
    admin = FakeAdmin([([1, 2], True), ([], True), ([], True), ([], True), ([3], False)])
    ring = KeyRing()
    sleeps = Sleeps(6)
    await run(admin, ring, sleeps)
    assert ring.loaded and ring.version == 3
    # after lists: from the first delay; each failure doubles it up to the cap; a list resets it
    assert sleeps.delays == [0.2, 0.4, 0.8, 1.0, 0.2, 0.4]
    assert admin.opened == 6


async def test_no_call_while_the_controller_socket_is_missing() -> None:
    admin = FakeAdmin([([1], False)])
    ring = KeyRing()
    sleeps = Sleeps(3)
    await run(admin, ring, sleeps, there=False)
    assert admin.opened == 0 and not ring.loaded
    assert sleeps.delays == [0.2, 0.4, 0.8]


async def test_the_watch_is_cancelled_cleanly() -> None:
    admin = FakeAdmin([])
    task = asyncio.get_running_loop().create_task(keep_ring(admin, KeyRing(), lambda: False))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
