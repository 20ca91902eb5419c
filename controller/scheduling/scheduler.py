"""Admission and placement: the fair queue, affinity, rate limits and cooldowns wired together.

`admit` parks a request in the fair queue until `_dispatch` finds it a worker and a slot;
`release` gives both back. `_dispatch` runs whenever something changes (a request arrives or
ends, a worker's health flips, a cooldown ends, a rate window frees) and is the only place a
request gets a worker. The policies themselves are pure modules with no I/O; which accounts rest
and why (cooldowns, quota windows) is rests.py's, which the Scheduler extends.

    DispatchError            a request that will not run; carries the client's error code
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from common.errors import make_error
from common.models import model_family
from common.top_labels import TopCounter
from common.workers import NO_WORKER_HINT
from controller.config import ControllerConfig
from controller.events import kinds
from controller.events.bus import EventBus
from controller.keys.book import KeyBook
from controller.keys.record import KeyRecord
from controller.quota.strategy import reason as quota_reason
from controller.scheduling.affinity import AffinityTable
from controller.scheduling.fair_queue import FairQueue, QueueEntry, QueueFull
from controller.scheduling.ratelimit import RateLimiter
from controller.scheduling.rests import AccountRests
from controller.scheduling.routing import Choice, Policy, WorkerView, choose_worker
from controller.workers.pool import WorkerHandle, WorkerPool
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)
TICK_MAX_S = 1.0


class DispatchError(Exception):
    """A request that cannot be placed; becomes an error event."""

    def __init__(self, code: int, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_ms = int(max(retry_after_s, 0) * 1000)

    def event(self) -> pb.Event:
        return make_error(self.code, self.message, retry_after_ms=self.retry_after_ms)


@dataclass
class Lease:
    """A worker slot and a global slot, held by one attempt."""

    handle: WorkerHandle
    moved: bool
    waited_s: float
    key_id: str = ""
    opened_at: float = 0.0  # when the conversation opened (wall clock; affinity.py)


@dataclass(eq=False)
class Waiter:
    """A request waiting for a worker; `blocked` says why it still waits."""

    request: pb.ChatRequest
    key: str
    tokens: int
    exclude: frozenset[str] = frozenset()
    priority: int = 1
    future: asyncio.Future[Lease] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    preferred: str | None = None
    choice: Choice | None = None
    blocked: str = "capacity"
    retry_at: float = 0.0
    record: KeyRecord | None = None  # the key's policy (None: the bootstrap token)

    @property
    def family(self) -> str:
        return model_family(self.request.model)


class Scheduler(AccountRests):
    """Owns the queue and the per-worker policies; the clock is injected for tests."""

    def __init__(
        self,
        config: ControllerConfig,
        pool: WorkerPool,
        events: EventBus,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(pool.handles, events, wall)
        self.config = config
        self.pool = pool
        self.clock = clock
        self.queue: FairQueue[Waiter] = FairQueue(
            config.max_queue_total, config.max_queue_per_source
        )
        self.affinity = AffinityTable(config.affinity_ttl_s)
        # The pools never change while the controller runs: worked out once, not per request.
        self._cli = frozenset(name for name, h in pool.handles.items() if h.spec.uses_cli)
        self._servable = self._servable_workers()
        self.serves_cli = bool(self._servable & self._cli)
        self.limiter = RateLimiter(config.rate_limits)
        self._sync_pace()
        self.policy = Policy(config.quota_strategy, config.quota_move_at)
        self.in_flight = 0
        # Refused (queue full) by source: bounded, since a client picks its X-Source freely.
        self.rejected = TopCounter(config.metrics_label_cap)
        # Queued requests by the worker their conversation lives on, kept as they come and go:
        # a dispatch never counts the whole queue.
        self._waiting_for: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._next_tick_at = 0.0  # when run_ticks looks next (clock time)
        self.keys = KeyBook(wall, clock)  # admission by key: controller/keys/
        events.sinks.append(self.keys.observe)
        self.modes = frozenset(h.spec.mode for h in pool.handles.values())

    # -- admission -------------------------------------------------------------------------

    async def admit(self, waiter: Waiter) -> Lease:
        if not self.pool.handles:
            raise DispatchError(pb.NO_WORKER_CONFIGURED, NO_WORKER_HINT, 30)
        now = self.clock()
        waiter.preferred = self.affinity.lookup(waiter.key, now)
        deadline = now + self.config.queue_timeout_ms / 1000
        key = waiter.record
        entry = QueueEntry(waiter.request.source, waiter, now, deadline, waiter.priority)
        entry.key, entry.weight = (key.id, key.weight) if key else ("", 1.0)
        self._enqueue(entry)  # the caps bound waiting: a request that can start now needs no room
        self.dispatch()
        if not waiter.future.done():
            self._refuse_if_full(entry)
            self._refuse_hopeless(entry)
            if waiter.blocked != "capacity" and waiter.retry_at < self._next_tick_at:
                self._wake.set()  # a limit frees up before the planned look: plan again
            self.events.emit(
                kinds.Queued(
                    request_id=waiter.request.request_id,
                    source=entry.source,
                    depth=len(self.queue),
                    reason=waiter.blocked,
                )
            )
        return await self._await_lease(entry)

    def _refuse_if_full(self, entry: QueueEntry[Waiter]) -> None:
        try:
            self.queue.check_room(entry.party, extra=1)
        except QueueFull as exc:
            self._unqueue(entry)
            self.rejected.add(entry.source)
            raise DispatchError(pb.QUEUE_FULL, str(exc), 5) from None

    def _refuse_hopeless(self, entry: QueueEntry[Waiter]) -> None:
        """Every worker is resting or over its limit beyond this request's deadline: 429 now."""
        waiter = entry.item
        if waiter.blocked in ("cooldown", "rate_limit") and waiter.retry_at > entry.deadline:
            self._unqueue(entry)
            raise DispatchError(
                pb.RATE_LIMITED, _limited_message(waiter), waiter.retry_at - self.clock()
            )

    async def _await_lease(self, entry: QueueEntry[Waiter]) -> Lease:
        waiter = entry.item
        if waiter.future.done():
            return waiter.future.result()  # placed on arrival: no timer, nothing to shield
        try:
            async with asyncio.timeout(entry.deadline - self.clock()):
                return await asyncio.shield(waiter.future)
        except TimeoutError:
            if waiter.future.done():
                return waiter.future.result()
            self._unqueue(entry)
            raise self._timeout_error(waiter) from None
        except asyncio.CancelledError:
            # The client left while queued: leave at once; a lease granted meanwhile goes back.
            if not self._unqueue(entry) and waiter.future.done():
                self.release(waiter.future.result(), None)
            raise

    def _timeout_error(self, waiter: Waiter) -> DispatchError:
        if waiter.blocked in ("cooldown", "rate_limit"):
            return DispatchError(
                pb.RATE_LIMITED, _limited_message(waiter), waiter.retry_at - self.clock()
            )
        waited = self.config.queue_timeout_ms
        return DispatchError(
            pb.QUEUE_TIMEOUT, f"no capacity within the queue timeout ({waited} ms)", 5
        )

    def _enqueue(self, entry: QueueEntry[Waiter]) -> None:
        self.queue.add(entry)
        if preferred := entry.item.preferred:
            self._waiting_for[preferred] = self._waiting_for.get(preferred, 0) + 1

    def _unqueue(self, entry: QueueEntry[Waiter]) -> bool:
        """Take a waiting entry out (placed, refused, timed out, cancelled); False if absent."""
        if not self.queue.remove(entry):
            return False
        self._left_queue(entry)
        return True

    def _left_queue(self, entry: QueueEntry[Waiter]) -> None:
        if preferred := entry.item.preferred:
            self._waiting_for[preferred] -= 1

    # -- placement -------------------------------------------------------------------------

    def _sync_pace(self) -> None:
        """The built-in pace for OAuth accounts; API keys only what RATE_LIMITS names."""
        for name, handle in self.pool.handles.items():
            api_key = handle.credential == "api_key"
            self.limiter.set_own_limits(name, self.config.api_key_rate_limits if api_key else None)

    def dispatch(self) -> None:
        """Give waiting requests workers while global slots are free."""
        if self.in_flight >= self.config.max_concurrent or not len(self.queue):
            return  # the common case under load: nothing to scan
        self._sync_pace()
        now = self.clock()
        waiting_for = dict(self._waiting_for)  # as of this pass's start, as placement reads it
        while self.in_flight < self.config.max_concurrent and len(self.queue):
            entry = self.queue.select(
                lambda e: self._place(e.item, now, waiting_for), self.keys.at_cap
            )
            if entry is None:
                break
            self._left_queue(entry)
            self._grant(entry, now)

    def _place(self, waiter: Waiter, now: float, waiting_for: dict[str, int]) -> bool:
        views = self._views(waiter, now, waiting_for)
        primary, overflow = self._pools(views, waiter.record)
        choice = choose_worker(
            primary, waiter.preferred, self.config.primary_worker, waiter.exclude, self.policy
        )
        if choice.worker is None and overflow and not choice.wait_for_preferred:
            if not any(v.can_take for v in primary) and self._cli_hopeless(primary, waiter):
                choice = choose_worker(
                    overflow, None, self.config.primary_worker, waiter.exclude, self.policy
                )
        waiter.choice = choice
        if choice.worker is None:
            usable = [v for v in primary + overflow if v.name not in waiter.exclude]
            self._note_block(waiter, usable, now)
        return choice.worker is not None

    def _views(self, waiter: Waiter, now: float, waiting_for: dict[str, int]) -> list[WorkerView]:
        wall = self.wall()
        return [
            WorkerView(
                name=name,
                up=handle.up,
                draining=handle.draining,
                cooling=self.cooldowns.of(name).active(wall),
                in_flight=handle.in_flight,
                max_concurrent=handle.spec.max_concurrent,
                last_used=handle.last_used,
                rate_wait_s=self.limiter.wait_s(name, waiter.family, waiter.tokens, now),
                waiting_for=waiting_for.get(name, 0) - (waiter.preferred == name),  # others only
                headroom=self.quota.headroom(name, wall),
            )
            for name, handle in self.pool.handles.items()
        ]

    def _pools(
        self, views: list[WorkerView], key: KeyRecord | None
    ) -> tuple[list[WorkerView], list[WorkerView]]:
        """CLI workers serve by default; api workers only overflow, unless they are all there is
        or the key may use no other."""
        if key is not None and not key.modes >= self.modes:
            return [v for v in views if self.pool.handles[v.name].spec.mode in key.modes], []
        if not self._cli:
            return views, []
        cli = [v for v in views if v.name in self._cli]
        api = [v for v in views if v.name not in self._cli]
        return cli, api if self.config.overflow_to_api else []

    def servable_by(self, key: KeyRecord | None = None) -> frozenset[str]:
        """Workers this deployment may route a request to at all (the pools, by mode); for a
        key, those in its pools."""
        if key is None or key.modes >= self.modes:
            return self._servable
        return frozenset(n for n, h in self.pool.handles.items() if h.spec.mode in key.modes)

    def _servable_workers(self) -> frozenset[str]:
        api = frozenset(self.pool.handles) - self._cli
        if not self._cli:
            return api
        return self._cli | api if self.config.overflow_to_api else self._cli

    def unable_to_serve(self, request: pb.ChatRequest) -> frozenset[str]:
        """Workers known to refuse this request whatever their state (from their Status)."""
        if not request.tools:
            return frozenset()
        return frozenset(name for name, h in self.pool.handles.items() if h.no_client_tools)

    def _cli_hopeless(self, cli: list[WorkerView], waiter: Waiter) -> bool:
        """No CLI worker can take it: all resting or down, or all full behind a long queue."""
        if not any(v.available and v.rate_wait_s <= 0 for v in cli):
            return True
        slots = sum(v.max_concurrent for v in cli if v.available)
        return len(self.queue) > slots

    def _note_block(self, waiter: Waiter, views: list[WorkerView], now: float) -> None:
        """Why the request waits, and when the first usable worker frees up if it is a limit."""
        live = [v for v in views if v.up and not v.draining]
        if not live or not all(v.cooling or v.rate_wait_s > 0 for v in live):
            waiter.blocked = "capacity"
            return
        wall = self.wall()
        frees_in = [
            self.cooldowns.of(v.name).remaining_s(wall) if v.cooling else v.rate_wait_s
            for v in live
        ]
        waiter.blocked = "cooldown" if all(v.cooling for v in live) else "rate_limit"
        waiter.retry_at = now + min(frees_in)

    def _grant(self, entry: QueueEntry[Waiter], now: float) -> None:
        waiter = entry.item
        assert waiter.choice is not None and waiter.choice.worker is not None
        handle = self.pool.handles[waiter.choice.worker]
        handle.in_flight += 1
        handle.requests += 1
        handle.last_used = now
        self.in_flight += 1
        self.limiter.record(
            handle.spec.name, waiter.family, waiter.request.request_id, waiter.tokens, now
        )
        opened_at = self.affinity.record(
            waiter.key, handle.spec.name, now, waiter.preferred, self.wall()
        )
        moved = waiter.preferred is not None and waiter.preferred != handle.spec.name
        if moved:
            self.events.emit(
                kinds.Moved(
                    request_id=waiter.request.request_id,
                    key=waiter.key[:12],
                    from_worker=waiter.preferred or "",  # set: it moved
                    to_worker=handle.spec.name,
                    reason=waiter.choice.reason,
                )
            )
        elif waiter.preferred is None:
            self.events.emit(
                kinds.Routed(
                    request_id=waiter.request.request_id,
                    key=waiter.key[:12],
                    worker=handle.spec.name,
                    strategy=self.policy.strategy,
                    reason=quota_reason(self.policy.strategy, waiter.choice.headroom, self.wall()),
                )
            )
        self.keys.started(entry.key)
        waiter.future.set_result(
            Lease(handle, moved, now - entry.enqueued_at, entry.key, opened_at)
        )

    def release(self, lease: Lease, total_tokens: int | None) -> None:
        """An attempt is over: its worker slot and global slot go back."""
        lease.handle.in_flight -= 1
        self.in_flight -= 1
        self.keys.ended(lease.key_id)
        self.dispatch()

    def correct_tokens(self, worker: str, request: pb.ChatRequest, tokens: int) -> None:
        self.limiter.correct(worker, model_family(request.model), request.request_id, tokens)
        self.keys.correct(request.key_id, request.request_id, tokens)

    # -- background ------------------------------------------------------------------------

    async def run_ticks(self) -> None:
        """Notice ended cooldowns and freed rate windows: nothing else wakes waiting requests."""
        while True:
            self._wake.clear()
            wait = self._next_tick_s()
            self._next_tick_at = self.clock() + wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self.end_cooldowns()
            self.affinity.sweep(self.clock())
            self.dispatch()

    def _rest_started(self) -> None:
        self._wake.set()  # run_ticks plans its next look again: this rest may end before it

    def _next_tick_s(self) -> float:
        now = self.clock()
        due = [e.item.retry_at - now for e in self.queue if e.item.retry_at > now]
        end = self.cooldowns.earliest_end(self.wall())
        if end is not None:
            due.append(end - self.wall())
        return max(0.01, min([TICK_MAX_S, *due]))


def _limited_message(waiter: Waiter) -> str:
    if waiter.blocked == "cooldown":
        return "every worker's account is at its usage limit; retry after the reset"
    return f"the {waiter.family} rate limit is reached on every worker; retry shortly"
