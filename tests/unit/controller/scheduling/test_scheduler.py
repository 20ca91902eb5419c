"""controller/scheduling/scheduler.py: admission, fairness, affinity, rate limits, cooldowns,
overflow.

Every scenario uses a real WorkerPool (its gRPC channels are never called), fake clocks that
only move when a test advances them, and ends by checking that no slot leaked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import pytest

from common.paths import StatePaths
from common.workers import NO_WORKER_HINT, WorkerSpec
from controller.config import ControllerConfig
from controller.events.bus import EventBus, ProxyEvent
from controller.scheduling.ratelimit import DEFAULT_LIMITS, Limit
from controller.scheduling.scheduler import DispatchError, Lease, Scheduler, Waiter
from controller.workers.pool import WorkerPool
from protos import common_pb2 as pb

MONO_START = 1_000.0
WALL_START = 1_700_000_000.0
_request_ids = itertools.count(1)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Env:
    """One scheduler under test with everything it was built from."""

    scheduler: Scheduler
    pool: WorkerPool
    events: EventBus
    mono: FakeClock
    wall: FakeClock
    tasks: list[asyncio.Task[Lease]] = dataclasses.field(default_factory=list)

    def advance(self, seconds: float) -> None:
        self.mono.now += seconds
        self.wall.now += seconds

    def handle_in_flight(self) -> dict[str, int]:
        return {name: h.in_flight for name, h in self.pool.handles.items()}

    def assert_no_leaks(self) -> None:
        assert self.scheduler.in_flight == 0
        assert all(n == 0 for n in self.handle_in_flight().values()), self.handle_in_flight()

    def kinds(self, kind: str) -> list[ProxyEvent]:
        return self.events.recent(kind=kind)

    async def start(self, waiter: Waiter) -> asyncio.Task[Lease]:
        """Run admit in a task until it is queued, granted or refused."""
        task = asyncio.create_task(self.scheduler.admit(waiter))
        self.tasks.append(task)
        for _ in range(100):
            queued = any(entry.item is waiter for entry in self.scheduler.queue)
            if queued or waiter.future.done() or task.done():
                return task
            await asyncio.sleep(0)  # one loop step: let admit run up to its first await
        raise AssertionError("admit neither queued nor finished")

    async def granted(self, task: asyncio.Task[Lease]) -> Lease:
        return await asyncio.wait_for(task, 1.0)


class Builder(Protocol):
    def __call__(
        self,
        *workers: WorkerSpec,
        clocks: tuple[Callable[[], float], Callable[[], float]] | None = None,
        **config: Any,
    ) -> Env: ...


def cli(name: str, max_concurrent: int = 4) -> WorkerSpec:
    return WorkerSpec(name=name, mode="cli", max_concurrent=max_concurrent)


def api(name: str, max_concurrent: int = 4) -> WorkerSpec:
    return WorkerSpec(name=name, mode="api", max_concurrent=max_concurrent)


def waiter(
    source: str = "a",
    key: str = "",
    *,
    model: str = "sonnet",
    tokens: int = 10,
    priority: int = 1,
    exclude: Iterable[str] = (),
) -> Waiter:
    request_id = f"req-{next(_request_ids)}"
    request = pb.ChatRequest(request_id=request_id, model=model, source=source)
    return Waiter(request, key or f"key-{request_id}", tokens, frozenset(exclude), priority)


def sonnet_limit(rpm: int = 10**6, tpm: int = 10**9) -> dict[str, Limit]:
    return {**DEFAULT_LIMITS, "sonnet": Limit(rpm=rpm, tpm=tpm)}


@pytest.fixture
async def build(tmp_path: Path) -> AsyncIterator[Builder]:
    made: list[Env] = []

    def factory(
        *workers: WorkerSpec,
        clocks: tuple[Callable[[], float], Callable[[], float]] | None = None,
        **config: Any,
    ) -> Env:
        specs = workers
        paths = StatePaths(tmp_path)
        settings = ControllerConfig(
            paths=paths,
            workers=tuple(specs),
            max_concurrent=10,
            max_queue_total=100,
            max_queue_per_source=20,
            queue_timeout_ms=120_000,
            primary_worker="1",
            health_interval_ms=1_000,
            rate_limits=dict(DEFAULT_LIMITS),
            overflow_to_api=False,
            affinity_ttl_s=1800.0,
            max_attempts=3,
        )
        settings = dataclasses.replace(settings, **config)
        pool = WorkerPool(tuple(specs), paths)
        for handle in pool.handles.values():
            handle.up = True
            handle.seen_up = True
        mono, wall = FakeClock(MONO_START), FakeClock(WALL_START)
        clock, wall_clock = clocks if clocks else (mono, wall)
        events = EventBus()
        scheduler = Scheduler(settings, pool, events, clock=clock, wall=wall_clock)
        env = Env(scheduler, pool, events, mono, wall)
        made.append(env)
        return env

    yield factory
    for env in made:
        for task in env.tasks:
            task.cancel()
        await asyncio.gather(*env.tasks, return_exceptions=True)
        await env.pool.close()


async def refused(env: Env, w: Waiter) -> DispatchError:
    with pytest.raises(DispatchError) as info:
        await asyncio.wait_for(env.scheduler.admit(w), 2.0)
    return info.value


# -- admission and slots -----------------------------------------------------------------------


async def test_admit_grants_at_once_when_free(build: Builder) -> None:
    env = build(cli("1", 2))
    lease = await env.scheduler.admit(waiter())
    assert lease.handle.spec.name == "1"
    assert not lease.moved
    assert lease.waited_s == 0.0
    assert env.scheduler.in_flight == 1
    assert lease.handle.in_flight == 1
    assert lease.handle.requests == 1
    assert lease.handle.last_used == MONO_START
    assert len(env.scheduler.queue) == 0
    assert env.kinds("queued") == []
    env.scheduler.release(lease, 123)
    env.assert_no_leaks()


async def test_global_max_concurrent_is_respected(build: Builder) -> None:
    env = build(cli("1", 5), cli("2", 5), max_concurrent=2)
    first = await env.scheduler.admit(waiter())
    second = await env.scheduler.admit(waiter())
    third = waiter()
    task = await env.start(third)
    assert not task.done()
    assert env.scheduler.in_flight == 2
    assert len(env.scheduler.queue) == 1
    (queued,) = env.kinds("queued")
    assert queued.data == {
        "request_id": third.request.request_id,
        "source": "a",
        "depth": 1,
        "reason": "capacity",
    }
    env.advance(2.5)
    env.scheduler.release(first, None)
    assert third.future.done()  # granted as part of the release
    lease = await env.granted(task)
    assert lease.waited_s == pytest.approx(2.5)
    assert env.scheduler.in_flight == 2
    assert len(env.scheduler.queue) == 0
    env.scheduler.release(second, None)
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_worker_max_concurrent_is_respected(build: Builder) -> None:
    env = build(cli("1", 1), max_concurrent=10)
    first = await env.scheduler.admit(waiter())
    task = await env.start(waiter())
    assert not task.done()
    assert env.handle_in_flight() == {"1": 1}
    env.scheduler.release(first, None)
    lease = await env.granted(task)
    assert lease.handle.spec.name == "1"
    assert env.handle_in_flight() == {"1": 1}
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_new_conversations_spread_by_free_capacity_then_least_recent_use(
    build: Builder,
) -> None:
    env = build(cli("1", 2), cli("2", 2), cli("3", 1), max_concurrent=10)
    leases = []
    for _ in range(5):
        leases.append(await env.scheduler.admit(waiter()))
        env.advance(1.0)
    # 1: most free and primary; 2: most free; then 1 and 2 tie on free (1 each) and 3 too,
    # so least recent use decides: 3 (never used), then 1, then 2.
    assert [lease.handle.spec.name for lease in leases] == ["1", "2", "3", "1", "2"]
    for lease in leases:
        env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_released_slot_is_reused_by_the_next_waiter_on_that_worker(build: Builder) -> None:
    env = build(cli("1", 1), cli("2", 1), max_concurrent=10)
    on_1 = await env.scheduler.admit(waiter())
    on_2 = await env.scheduler.admit(waiter())
    assert (on_1.handle.spec.name, on_2.handle.spec.name) == ("1", "2")
    task = await env.start(waiter())
    env.scheduler.release(on_2, None)
    lease = await env.granted(task)
    assert lease.handle.spec.name == "2"
    env.scheduler.release(on_1, None)
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_no_worker_configured(build: Builder) -> None:
    env = build()
    error = await refused(env, waiter())
    assert error.code == pb.NO_WORKER_CONFIGURED
    assert error.message == NO_WORKER_HINT
    assert error.retry_after_ms == 30_000
    assert error.event().error.code == pb.NO_WORKER_CONFIGURED
    assert len(env.scheduler.queue) == 0
    env.assert_no_leaks()


async def test_dispatch_error_event_carries_code_and_retry_after() -> None:
    error = DispatchError(pb.RATE_LIMITED, "slow down", 2.5)
    assert error.retry_after_ms == 2500
    event = error.event()
    assert event.error.code == pb.RATE_LIMITED
    assert event.error.message == "slow down"
    assert event.error.retry_after_ms == 2500
    assert DispatchError(pb.QUEUE_FULL, "x", -3).retry_after_ms == 0


# -- fairness ----------------------------------------------------------------------------------


async def _serve_in_turn(env: Env, holder: Lease, waiters: list[Waiter]) -> list[str]:
    """Queue `waiters` behind `holder` (one global slot); release one by one; granted order."""
    tasks = {id(w): await env.start(w) for w in waiters}
    assert len(env.scheduler.queue) == len(waiters)
    order: list[str] = []
    lease = holder
    for _ in waiters:
        env.scheduler.release(lease, None)
        done = [w for w in waiters if w.future.done() and w.request.request_id not in order]
        assert len(done) == 1, "each release grants exactly one waiter"
        order.append(done[0].request.request_id)
        lease = await env.granted(tasks[id(done[0])])
    env.scheduler.release(lease, None)
    names = {w.request.request_id: w.request.source + str(n) for n, w in _numbered(waiters)}
    return [names[rid] for rid in order]


def _numbered(waiters: list[Waiter]) -> Iterable[tuple[int, Waiter]]:
    counts: dict[str, int] = {}
    for w in waiters:
        counts[w.request.source] = counts.get(w.request.source, 0) + 1
        yield counts[w.request.source], w


async def test_sources_are_served_round_robin(build: Builder) -> None:
    env = build(cli("1", 4), max_concurrent=1)
    holder = await env.scheduler.admit(waiter("x"))
    waiters = [waiter(s) for s in ("a", "a", "a", "b", "b", "c")]
    order = await _serve_in_turn(env, holder, waiters)
    assert order == ["a1", "b1", "c1", "a2", "b2", "a3"]
    env.assert_no_leaks()


async def test_flooding_source_does_not_starve_others(build: Builder) -> None:
    env = build(cli("1", 4), max_concurrent=1)
    holder = await env.scheduler.admit(waiter("x"))
    waiters = [waiter("flood") for _ in range(10)] + [waiter(s) for s in ("b", "b", "c", "c")]
    order = await _serve_in_turn(env, holder, waiters)
    assert order == [
        "flood1",
        "b1",
        "c1",
        "flood2",
        "b2",
        "c2",
        *(f"flood{n}" for n in range(3, 11)),
    ]
    env.assert_no_leaks()


async def test_source_just_granted_goes_behind_a_waiting_source(build: Builder) -> None:
    """a1 is granted at once; a2 then b1 queue; the next slot is b's turn, not a's again."""
    env = build(cli("1", 4), max_concurrent=1)
    holder = await env.scheduler.admit(waiter("a"))
    order = await _serve_in_turn(env, holder, [waiter("a"), waiter("b")])
    assert order == ["b1", "a1"]
    env.assert_no_leaks()


async def test_priority_orders_within_a_source(build: Builder) -> None:
    env = build(cli("1", 4), max_concurrent=1)
    holder = await env.scheduler.admit(waiter("x"))
    low, normal, high = waiter("a", priority=2), waiter("a", priority=1), waiter("a", priority=0)
    normal2 = waiter("a", priority=1)
    tasks = [await env.start(w) for w in (low, normal, high, normal2)]
    granted: list[Waiter] = []
    lease = holder
    for _ in tasks:
        env.scheduler.release(lease, None)
        (now_granted,) = [
            w for w in (low, normal, high, normal2) if w.future.done() and w not in granted
        ]
        granted.append(now_granted)
        lease = now_granted.future.result()
    env.scheduler.release(lease, None)
    assert granted == [high, normal, normal2, low]
    await asyncio.gather(*tasks)
    env.assert_no_leaks()


# -- queue caps and timeouts -------------------------------------------------------------------


async def test_total_cap_gives_queue_full(build: Builder) -> None:
    env = build(cli("1", 1), max_concurrent=1, max_queue_total=2)
    holder = await env.scheduler.admit(waiter("x"))
    tasks = [await env.start(waiter("a")), await env.start(waiter("b"))]
    error = await refused(env, waiter("c"))
    assert error.code == pb.QUEUE_FULL
    assert error.retry_after_ms == 5000
    assert "queue is full" in error.message
    assert env.scheduler.rejected == {"c": 1}
    assert len(env.scheduler.queue) == 2
    assert env.kinds("queued")[-1].data["depth"] == 2  # the refused one was never queued
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    env.scheduler.release(holder, None)
    env.assert_no_leaks()


async def test_per_source_cap_gives_queue_full_for_that_source_only(build: Builder) -> None:
    env = build(cli("1", 1), max_concurrent=1, max_queue_total=10, max_queue_per_source=1)
    holder = await env.scheduler.admit(waiter("x"))
    a1 = await env.start(waiter("a"))
    error = await refused(env, waiter("a"))
    assert error.code == pb.QUEUE_FULL
    assert "source" in error.message
    b1 = await env.start(waiter("b"))  # another source still gets in
    assert not b1.done()
    assert env.scheduler.queue.depth_by_source() == {"a": 1, "b": 1}
    assert env.scheduler.rejected == {"a": 1}
    env.scheduler.release(holder, None)
    first = await env.granted(a1)
    env.scheduler.release(first, None)
    second = await env.granted(b1)
    env.scheduler.release(second, None)
    env.assert_no_leaks()


@pytest.mark.parametrize("cap", ["max_queue_total", "max_queue_per_source"])
async def test_zero_queue_cap_still_runs_a_request_that_needs_no_wait(
    build: Builder, cap: str
) -> None:
    """The caps bound requests *waiting* for a slot; a free slot needs no waiting room."""
    caps: dict[str, Any] = {cap: 0}
    env = build(cli("1", 2), max_concurrent=2, **caps)
    lease = await env.scheduler.admit(waiter())
    assert lease.handle.spec.name == "1"
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_queue_timeout(build: Builder) -> None:
    env = build(cli("1", 1), max_concurrent=1, queue_timeout_ms=50)
    holder = await env.scheduler.admit(waiter("x"))
    late = waiter("a")
    error = await refused(env, late)
    assert error.code == pb.QUEUE_TIMEOUT
    assert "50 ms" in error.message
    assert error.retry_after_ms > 0
    assert len(env.scheduler.queue) == 0
    env.scheduler.release(holder, None)
    assert not late.future.done()  # nobody hands a slot to a request that left
    env.assert_no_leaks()


async def test_queue_timeout_with_real_clocks(build: Builder) -> None:
    env = build(
        cli("1", 1), max_concurrent=1, queue_timeout_ms=30, clocks=(time.monotonic, time.time)
    )
    holder = await env.scheduler.admit(waiter("x"))
    started = time.monotonic()
    error = await refused(env, waiter("a"))
    assert error.code == pb.QUEUE_TIMEOUT
    assert time.monotonic() - started >= 0.025
    env.scheduler.release(holder, None)
    env.assert_no_leaks()


async def test_cancelled_waiter_leaves_the_queue_at_once(build: Builder) -> None:
    env = build(cli("1", 1), max_concurrent=1)
    holder = await env.scheduler.admit(waiter("x"))
    gone = waiter("a")
    task = await env.start(gone)
    stays = waiter("b")
    other = await env.start(stays)
    assert len(env.scheduler.queue) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(env.scheduler.queue) == 1
    assert env.scheduler.queue.depth_by_source() == {"b": 1}
    env.scheduler.release(holder, None)
    assert not gone.future.done()
    lease = await env.granted(other)
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_cancel_right_after_the_grant_gives_the_slot_back(build: Builder) -> None:
    """The lease was granted but the client left before admit resumed: no slot may leak."""
    env = build(cli("1", 1), max_concurrent=1)
    holder = await env.scheduler.admit(waiter("x"))
    late = waiter("a")
    task = await env.start(late)
    env.scheduler.release(holder, None)
    assert late.future.done()
    assert env.scheduler.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    env.assert_no_leaks()


# -- affinity ----------------------------------------------------------------------------------


async def test_conversation_stays_on_its_worker(build: Builder) -> None:
    env = build(cli("1", 4), cli("2", 4))
    names = []
    for _ in range(3):
        lease = await env.scheduler.admit(waiter(key="conv"))
        names.append(lease.handle.spec.name)
        assert not lease.moved
        env.advance(1.0)
        env.scheduler.release(lease, None)
        # Another conversation in between uses the other worker (least recently used).
        other = await env.scheduler.admit(waiter())
        env.scheduler.release(other, None)
        env.advance(1.0)
    assert names == ["1", "1", "1"]
    stats = env.scheduler.affinity.stats
    assert (stats.hits, stats.misses, stats.moves) == (2, 4, 0)
    assert env.scheduler.affinity.active(env.mono.now) == 4
    assert env.kinds("moved") == []
    env.assert_no_leaks()


async def test_conversation_moves_off_a_cooling_worker_and_stays_moved(build: Builder) -> None:
    env = build(cli("1", 4), cli("2", 4))
    first = await env.scheduler.admit(waiter(key="conv"))
    assert first.handle.spec.name == "1"
    env.scheduler.release(first, None)
    env.scheduler.start_cooldown("1", 60.0, "usage limit reached")
    env.scheduler.start_cooldown("1", 30.0, "rate limited")  # already resting: no new event
    (cooling,) = env.kinds("cooldown_start")
    assert cooling.data == {
        "worker": "1",
        "seconds": 60.0,
        "reason": "usage limit reached",
        "basis": "estimate",
        "until": WALL_START + 60.0,
    }
    second_waiter = waiter(key="conv")
    moved = await env.scheduler.admit(second_waiter)
    assert moved.handle.spec.name == "2"
    assert moved.moved
    (event,) = env.kinds("moved")
    assert event.data == {
        "request_id": second_waiter.request.request_id,
        "key": "conv",
        "from_worker": "1",
        "to_worker": "2",
        "reason": "cooling down",
    }
    env.scheduler.release(moved, None)
    env.advance(120.0)  # the cooldown is over; the conversation now lives on 2
    third = await env.scheduler.admit(waiter(key="conv"))
    assert third.handle.spec.name == "2"
    assert not third.moved
    env.scheduler.release(third, None)
    stats = env.scheduler.affinity.stats
    assert (stats.hits, stats.misses, stats.moves) == (1, 1, 1)
    env.assert_no_leaks()


@pytest.mark.parametrize("state", ["down", "draining"])
async def test_conversation_moves_off_a_down_or_draining_worker(build: Builder, state: str) -> None:
    env = build(cli("1", 4), cli("2", 4))
    first = await env.scheduler.admit(waiter(key="conv"))
    env.scheduler.release(first, None)
    if state == "down":
        env.pool.handles["1"].up = False
    else:
        env.pool.handles["1"].draining = True
    lease = await env.scheduler.admit(waiter(key="conv"))
    assert lease.handle.spec.name == "2"
    assert lease.moved
    assert env.scheduler.affinity.stats.moves == 1
    assert len(env.kinds("moved")) == 1
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_conversation_waits_for_its_full_worker_while_its_queue_is_short(
    build: Builder,
) -> None:
    env = build(cli("1", 2), cli("2", 2))
    a = await env.scheduler.admit(waiter(key="conv"))
    b = await env.scheduler.admit(waiter(key="conv"))
    assert {a.handle.spec.name, b.handle.spec.name} == {"1"}
    task = await env.start(waiter(key="conv"))
    assert not task.done()  # 2 is free, but the conversation waits for its worker
    env.scheduler.release(a, None)
    lease = await env.granted(task)
    assert lease.handle.spec.name == "1"
    assert not lease.moved
    env.scheduler.release(b, None)
    env.scheduler.release(lease, None)
    assert env.scheduler.affinity.stats.moves == 0
    env.assert_no_leaks()


async def test_a_conversations_queue_shrinks_when_its_waiters_leave(build: Builder) -> None:
    """Waiters that left the queue (cancelled) no longer count as waiting for the worker: the
    next turn waits for it again instead of moving."""
    env = build(cli("1", 2), cli("2", 2))
    held = [await env.scheduler.admit(waiter(key="conv")) for _ in range(2)]
    assert {lease.handle.spec.name for lease in held} == {"1"}
    gone = [await env.start(waiter(key="conv")) for _ in range(2)]
    assert len(env.scheduler.queue) == 2  # both wait for 1: its queue is still short
    for task in gone:
        task.cancel()
    await asyncio.gather(*gone, return_exceptions=True)
    assert len(env.scheduler.queue) == 0
    task = await env.start(waiter(key="conv"))
    assert not task.done()  # with two waiters still counted it would have moved to 2
    env.scheduler.release(held[0], None)
    lease = await env.granted(task)
    assert lease.handle.spec.name == "1" and not lease.moved
    for done in (held[1], lease):
        env.scheduler.release(done, None)
    env.assert_no_leaks()


async def test_affinity_expires_after_the_ttl(build: Builder) -> None:
    env = build(cli("1", 4), cli("2", 4), affinity_ttl_s=60.0)
    first = await env.scheduler.admit(waiter(key="conv"))
    env.scheduler.release(first, None)
    env.advance(61.0)
    env.pool.handles["1"].up = False
    lease = await env.scheduler.admit(waiter(key="conv"))
    assert lease.handle.spec.name == "2"
    assert not lease.moved  # an expired conversation is new, not moved
    assert env.scheduler.affinity.stats.moves == 0
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_excluded_worker_is_never_used(build: Builder) -> None:
    env = build(cli("1", 4), cli("2", 4))
    lease = await env.scheduler.admit(waiter(exclude={"1"}))
    assert lease.handle.spec.name == "2"
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_down_worker_comes_back_and_serves_the_waiter(build: Builder) -> None:
    env = build(cli("1", 2))
    env.pool.handles["1"].up = False
    w = waiter()
    task = await env.start(w)
    assert not task.done()
    env.pool.handles["1"].up = True
    env.scheduler.dispatch()
    lease = await env.granted(task)
    assert lease.handle.spec.name == "1"
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


# -- rate limits -------------------------------------------------------------------------------


async def test_rate_limited_request_waits_without_holding_a_slot(build: Builder) -> None:
    env = build(cli("1", 4), rate_limits=sonnet_limit(rpm=1))
    first = await env.scheduler.admit(waiter())
    w = waiter()
    task = await env.start(w)
    assert not task.done()
    assert w.blocked == "rate_limit"
    assert env.kinds("queued")[-1].data["reason"] == "rate_limit"
    assert env.scheduler.in_flight == 1
    env.scheduler.release(first, None)
    assert not w.future.done()  # a free slot does not help: the window is full
    env.assert_no_leaks()
    env.advance(59.0)
    env.scheduler.dispatch()
    assert not w.future.done()
    env.advance(1.0)
    env.scheduler.dispatch()
    lease = await env.granted(task)
    assert lease.waited_s == pytest.approx(60.0)
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_rate_limited_waiter_does_not_block_other_families(build: Builder) -> None:
    env = build(cli("1", 1), max_concurrent=1, rate_limits=sonnet_limit(rpm=1))
    first = await env.scheduler.admit(waiter("a"))
    env.scheduler.release(first, None)
    blocked = waiter("a")
    task = await env.start(blocked)
    haiku = await env.scheduler.admit(waiter("a", model="haiku"))
    assert haiku.handle.spec.name == "1"
    assert not blocked.future.done()
    env.scheduler.release(haiku, None)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(env.scheduler.queue) == 0
    env.assert_no_leaks()


async def test_rate_limit_is_per_worker(build: Builder) -> None:
    env = build(cli("1", 4), cli("2", 4), rate_limits=sonnet_limit(rpm=1))
    first = await env.scheduler.admit(waiter(key="conv"))
    second = await env.scheduler.admit(waiter(key="conv"))
    assert (first.handle.spec.name, second.handle.spec.name) == ("1", "2")
    assert second.moved  # over its worker's limit, the conversation moves
    assert env.scheduler.limiter.usage(env.mono.now) == {
        ("1", "sonnet"): (1, 10),
        ("2", "sonnet"): (1, 10),
    }
    env.scheduler.release(first, None)
    env.scheduler.release(second, None)
    env.assert_no_leaks()


async def test_every_worker_limited_beyond_the_deadline_is_refused_at_once(
    build: Builder,
) -> None:
    env = build(cli("1", 4), cli("2", 4), rate_limits=sonnet_limit(rpm=1), queue_timeout_ms=10_000)
    leases = [await env.scheduler.admit(waiter()) for _ in range(2)]
    env.advance(5.0)
    started = time.monotonic()
    error = await refused(env, waiter())
    assert time.monotonic() - started < 1.0  # no waiting for the queue timeout
    assert error.code == pb.RATE_LIMITED
    assert error.retry_after_ms == pytest.approx(55_000, abs=1)
    assert "sonnet" in error.message
    assert len(env.scheduler.queue) == 0
    for lease in leases:
        env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_rate_limited_until_the_queue_timeout_gives_429(build: Builder) -> None:
    env = build(cli("1", 4), rate_limits=sonnet_limit(rpm=1), queue_timeout_ms=50)
    first = await env.scheduler.admit(waiter())
    env.scheduler.release(first, None)
    env.advance(59.97)  # the window frees in 30 ms, inside the 50 ms deadline: it waits
    error = await refused(env, waiter())
    assert error.code == pb.RATE_LIMITED
    assert 0 < error.retry_after_ms <= 30
    assert len(env.scheduler.queue) == 0
    env.assert_no_leaks()


async def test_token_limit_and_corrected_usage(build: Builder) -> None:
    env = build(cli("1", 4), rate_limits=sonnet_limit(tpm=100))
    first_waiter = waiter(tokens=10)
    first = await env.scheduler.admit(first_waiter)
    env.scheduler.correct_tokens("1", first_waiter.request, 95)
    env.scheduler.release(first, 95)
    w = waiter(tokens=10)
    task = await env.start(w)
    assert w.blocked == "rate_limit"  # 95 + 10 > 100 after the correction
    env.scheduler.correct_tokens("1", first_waiter.request, 50)
    env.scheduler.dispatch()
    lease = await env.granted(task)
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


# -- cooldowns ---------------------------------------------------------------------------------


async def test_cooling_worker_is_routed_around(build: Builder) -> None:
    env = build(cli("1", 4), cli("2", 4))
    env.scheduler.start_cooldown("1", 30.0, "overloaded")
    lease = await env.scheduler.admit(waiter())
    assert lease.handle.spec.name == "2"
    assert not lease.moved
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_every_worker_cooling_beyond_the_deadline_is_refused_with_earliest_reset(
    build: Builder,
) -> None:
    env = build(cli("1", 4), cli("2", 4), queue_timeout_ms=10_000)
    env.scheduler.start_cooldown("1", 100.0, "usage limit reached")
    env.scheduler.start_cooldown("2", 50.0, "usage limit reached")
    started = time.monotonic()
    error = await refused(env, waiter())
    assert time.monotonic() - started < 1.0
    assert error.code == pb.RATE_LIMITED
    assert error.retry_after_ms == pytest.approx(50_000, abs=1)
    assert "usage limit" in error.message
    assert len(env.scheduler.queue) == 0
    assert len(env.kinds("cooldown_start")) == 2
    env.assert_no_leaks()


async def test_every_worker_cooling_within_the_deadline_waits_for_the_reset(
    build: Builder,
) -> None:
    env = build(cli("1", 4), cli("2", 4))
    env.scheduler.start_cooldown("1", 20.0, "usage limit reached")
    env.scheduler.start_cooldown("2", 10.0, "usage limit reached")
    w = waiter()
    task = await env.start(w)
    assert w.blocked == "cooldown"
    assert w.retry_at == pytest.approx(MONO_START + 10.0)
    assert env.kinds("queued")[-1].data["reason"] == "cooldown"
    env.advance(10.0)
    env.scheduler.dispatch()
    lease = await env.granted(task)
    assert lease.handle.spec.name == "2"
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_cooldown_ends_by_itself_through_the_tick_loop(build: Builder) -> None:
    env = build(cli("1", 4), clocks=(time.monotonic, time.time))
    env.scheduler.start_cooldown("1", 0.05, "overloaded")
    ticks = asyncio.create_task(env.scheduler.run_ticks())
    try:
        lease = await env.scheduler.admit(waiter())
    finally:
        ticks.cancel()
        await asyncio.gather(ticks, return_exceptions=True)
    assert lease.handle.spec.name == "1"
    assert [e.data for e in env.kinds("cooldown_end")] == [{"worker": "1"}]
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_cooling_and_rate_limited_workers_wait_for_whichever_frees_first(
    build: Builder,
) -> None:
    """1 is over its window for 60 s, 2 rests 5 s, the deadline is 30 s: wait for 2."""
    env = build(cli("1", 4), cli("2", 4), rate_limits=sonnet_limit(rpm=1), queue_timeout_ms=30_000)
    first = await env.scheduler.admit(waiter())
    assert first.handle.spec.name == "1"
    env.scheduler.release(first, None)
    env.scheduler.start_cooldown("2", 5.0, "overloaded")
    w = waiter()
    task = await env.start(w)
    assert not task.done(), "refused although worker 2 is back long before the deadline"
    env.advance(6.0)
    env.scheduler.dispatch()
    lease = await env.granted(task)
    assert lease.handle.spec.name == "2"
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_allowed_warning_does_not_cool(build: Builder) -> None:
    env = build(cli("1", 4))
    warning = pb.QuotaWindow(
        window="five_hour", status="allowed_warning", utilization=0.93, utilization_known=True
    )
    env.scheduler.note_quota(
        "1",
        pb.RateLimitStatus(
            status="allowed_warning", resets_at=int(WALL_START) + 3600, windows=[warning]
        ),
    )
    lease = await env.scheduler.admit(waiter())
    assert lease.handle.spec.name == "1"
    assert env.kinds("cooldown_start") == []
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


# -- overflow to api workers -------------------------------------------------------------------


async def test_api_workers_are_not_used_without_overflow(build: Builder) -> None:
    env = build(cli("1", 4), api("api", 4), queue_timeout_ms=100, overflow_to_api=False)
    env.scheduler.start_cooldown("1", 3600.0, "usage limit reached")
    error = await refused(env, waiter())
    assert error.code == pb.RATE_LIMITED
    assert error.retry_after_ms == pytest.approx(3_600_000, abs=1)
    assert env.pool.handles["api"].requests == 0
    env.assert_no_leaks()


async def test_overflow_to_api_when_no_cli_worker_can_take_it(build: Builder) -> None:
    env = build(cli("1", 4), api("api", 4), overflow_to_api=True)
    env.scheduler.start_cooldown("1", 3600.0, "usage limit reached")
    lease = await env.scheduler.admit(waiter())
    assert lease.handle.spec.name == "api"
    assert lease.handle.spec.mode == "api"
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_overflow_when_cli_workers_are_over_their_rate_limit(build: Builder) -> None:
    env = build(cli("1", 4), api("api", 4), overflow_to_api=True, rate_limits=sonnet_limit(rpm=1))
    first = await env.scheduler.admit(waiter())
    second = await env.scheduler.admit(waiter())
    assert (first.handle.spec.name, second.handle.spec.name) == ("1", "api")
    env.scheduler.release(first, None)
    env.scheduler.release(second, None)
    env.assert_no_leaks()


async def test_cli_workers_serve_first_even_with_overflow(build: Builder) -> None:
    env = build(api("api", 8), cli("1", 1), overflow_to_api=True)
    lease = await env.scheduler.admit(waiter())
    assert lease.handle.spec.name == "1"
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


async def test_api_only_pool_serves_normally(build: Builder) -> None:
    env = build(api("1", 2), overflow_to_api=False)
    lease = await env.scheduler.admit(waiter())
    assert lease.handle.spec.name == "1"
    env.scheduler.release(lease, None)
    env.assert_no_leaks()


# -- the tick loop -----------------------------------------------------------------------------


async def test_next_tick_is_bounded(build: Builder) -> None:
    env = build(cli("1", 4))
    assert env.scheduler._next_tick_s() == 1.0
    env.scheduler.start_cooldown("1", 0.2, "overloaded")
    assert env.scheduler._next_tick_s() == pytest.approx(0.2, abs=1e-6)
    env.advance(0.2)
    assert env.scheduler._next_tick_s() == 1.0  # over: back to the idle tick
    env.scheduler.start_cooldown("1", 0.001, "overloaded")
    assert env.scheduler._next_tick_s() == 0.01
    env.assert_no_leaks()
