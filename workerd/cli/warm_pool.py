"""The warm pool's half of the session engine: starting processes ahead of demand, the keep-warm
loop, and the memory budget (a mixin of SessionEngine, which owns the state it reads).

Decisions are the pool's (sessions.py, demand.py, memory.py, cpu.py); this module does the
starting, measuring and retiring they call for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable

from protos import common_pb2 as pb
from workerd.cli.control import control, tools_listed
from workerd.cli.invocation import Signature
from workerd.cli.memory import PoolMemory
from workerd.cli.process import CliProcess, ProcessTable
from workerd.cli.sessions import SessionPool, Slot
from workerd.cli.spawner import Spawner
from workerd.cli.states import ChildState
from workerd.config import WorkerdConfig

logger = logging.getLogger(__name__)
MEASURE_EVERY_S = 1.0  # memory readings are this fresh when the pool decides


class WarmPool:
    """The engine's state this half reads and writes (SessionEngine sets it), and the engine's
    methods it calls."""

    pool: SessionPool
    spawner: Spawner
    memory: PoolMemory
    machine_busy: Callable[[], bool]
    claimed_starting: int
    _config: WorkerdConfig
    _table: ProcessTable
    _clock: Callable[[], float]
    _wake: asyncio.Event
    _handshakes: dict[int, asyncio.Task[bool]]
    _waiting: Counter[str]

    def fall_back(self, signature: Signature) -> bool:
        raise NotImplementedError

    async def retire(self, slot: Slot, reason: str) -> None:
        raise NotImplementedError

    def retire_soon(self, slot: Slot, reason: str) -> None:
        raise NotImplementedError

    def _progressed(self) -> None:
        raise NotImplementedError

    # --- warm processes -------------------------------------------------------------------

    async def _keep_warm(self) -> None:
        while True:
            await self._until_woken()
            await self._start_wanted()  # waiting requests first: a reading takes a moment
            await self.measure()
            await self._shrink()
            await self._start_wanted()

    async def _until_woken(self) -> None:
        """Until something changed, or (while warm processes beyond the floor may go) a
        moment passed."""
        pool = self.pool
        beyond_floor = len(pool.slots(ChildState.READY)) > pool.limits.warm_target
        # Held conversations grow as they idle: their memory is read again each second, so
        # the budget sees them (_parked_over_budget).
        holding = bool(pool.slots(ChildState.PARKED))
        poll_s = min(1.0, pool.limits.warm_idle_s / 4) if beyond_floor or holding else None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_s):
                await self._wake.wait()
        self._wake.clear()

    async def _start_wanted(self) -> None:
        """Start what waiting requests need, then what the pool wants, `start_concurrency`
        at a time (the next ones when these are ready: their end wakes this loop)."""
        while len(self._handshakes) < self._config.pool.start_concurrency:
            signature = self._next_start()
            if signature is None:
                return
            if not self._waiting_for(signature):
                room = self.pool.room_for_warm()
                if room is None:
                    return
                await asyncio.gather(*(self.retire(s, "evicted") for s in room))
            if not await self._warm_up(signature):
                return

    def _next_start(self) -> Signature | None:
        """A signature whose waiting requests outnumber its starts not yet claimed, else the
        pool's most wanted one while the memory budget has room."""
        for key in self._waiting:
            signature = self.pool.signature_of(key)
            if signature is not None and self._waiting_for(signature):
                return signature
        wanted = self.pool.warm_wanted(self._clock())
        self.pool.ceiling = self._ceiling()
        have = len(self.pool.warm())
        if not wanted or have >= self.pool.ceiling:
            return None
        # Beyond the floor, a start for demand not yet arrived waits while the machine's cores
        # are busy: there its CPU (about 0.5 s a start) would slow the turns and the starts
        # that requests are waiting on (a busy 2-core run went from 0.36x to 3.7x cold).
        if have >= self.pool.limits.warm_target and self.machine_busy():
            return None
        return wanted[0]

    def _waiting_for(self, signature: Signature) -> bool:
        starting = self.pool.warm()
        unclaimed = sum(1 for s in starting if s.signature.key == signature.key)
        return self._waiting[signature.key] > unclaimed

    async def _warm_up(self, signature: Signature) -> bool:
        """Start a process of `signature`; its handshake goes on in a task. False: no start."""
        child = await self.spawner.spawn(signature, "")
        if child is None:
            self.fall_back(signature)
            self._progressed()
            return False
        now = self._clock()
        slot = Slot(child.pid, signature, ChildState.STARTING, born=now, since=now)
        self.pool.add(slot)
        handshake = asyncio.create_task(self._handshake(slot, child))
        self._handshakes[slot.pid] = handshake
        handshake.add_done_callback(lambda _: self._handshakes.pop(slot.pid, None))
        self._progressed()
        return True

    async def _handshake(self, slot: Slot, child: CliProcess) -> bool:
        """`initialize` (and the client tools listed): the process is ready, or retired."""
        try:
            ready = await control(child, {"subtype": "initialize"})
            ready = ready and await tools_listed(child)
        except asyncio.CancelledError:
            await asyncio.shield(self.retire(slot, "stopping"))
            raise
        finally:
            self._wake.set()  # the next start may begin
        if not ready:
            if self.pool.get(slot.pid) is slot:  # not retired meanwhile: its start failed
                self.fall_back(slot.signature)
                self.retire_soon(slot, "warm start failed")
            self._progressed()
            return False
        self.pool.start_s = 0.8 * self.pool.start_s + 0.2 * (self._clock() - slot.born)
        if not slot.claimed:
            self._promote(slot)
        self._progressed()
        return True

    def _promote(self, slot: Slot) -> None:
        """STARTING -> READY, unless it went meanwhile."""
        child = self._table.get(slot.pid)
        if self.pool.get(slot.pid) is not slot or slot.state is not ChildState.STARTING:
            return
        if child is None or child.state is not ChildState.STARTING:
            return
        slot.state, slot.since = ChildState.READY, self._clock()
        child.settle(ChildState.READY)
        logger.info("child %d warm for signature %s", child.pid, slot.signature.key)

    # --- memory ---------------------------------------------------------------------------

    async def measure(self) -> None:
        """Read the memory of every CLI process, unless read within MEASURE_EVERY_S."""
        now = self._clock()
        if now - self.memory.read_at >= MEASURE_EVERY_S:
            processes = {child.pid: child.process() for child in self._table.all()}
            await self.memory.read(processes, now)

    def _ceiling(self) -> int:
        """Warm processes the budget (and MAX_IDLE_PROCESSES) allows with what all the
        processes use now."""
        starting = {c.pid: c.state is ChildState.STARTING for c in self._table.all()}
        allowed = self.memory.ceiling(starting, len(self.pool.warm()))
        return min(self.pool.limits.max_idle, allowed)

    async def _shrink(self) -> None:
        """Warm processes beyond the demand go once idle; beyond the budget, at once."""
        now = self._clock()
        self.pool.ceiling = self._ceiling()
        going = [(slot, "warm_idle") for slot in self.pool.surplus(now)]
        over = len(self.pool.warm()) - len(going) - self.pool.ceiling
        ready = [s for s in self.pool.warm() if s.state is ChildState.READY]
        spare = [s for s in ready if all(s is not g for g, _ in going)]
        spare.sort(key=lambda s: s.since)
        going += [(slot, "memory") for slot in spare[: max(0, over)]]
        going += [(slot, "memory") for slot in self._parked_over_budget(going)]
        for slot, reason in going:
            self.retire_soon(slot, reason)

    def _parked_over_budget(self, going: list[tuple[Slot, str]]) -> list[Slot]:
        """Held conversations to let go, least recently used first, while all the processes
        together, with the warm floor filled, use more than the budget: a burst's turns may run
        past it (a request is never refused for memory), but what they leave parked may not stay
        past it, nor keep the pool under WARM_PROCESSES for the next new conversation."""
        leaving = {slot.pid for slot, _ in going}
        states = {  # what stays: not going now, nor already on its way out
            c.pid: c.state is ChildState.STARTING
            for c in self._table.all()
            if c.pid not in leaving and c.state not in (ChildState.STOPPING, ChildState.EXITED)
        }
        warm = sum(1 for slot in self.pool.warm() if slot.pid not in leaving)
        missing = max(0, self.pool.limits.warm_target - warm)
        floor_room = missing * self.memory.per_process(states)
        excess = self.memory.used(states) + floor_room - self.memory.budget
        evicted: list[Slot] = []
        for slot in sorted(self.pool.slots(ChildState.PARKED), key=lambda s: s.since):
            if excess <= 0 or slot.pid in leaving:
                continue
            evicted.append(slot)
            excess -= self.memory.size_of(slot.pid, states)
        return evicted

    def figures(self) -> pb.PoolFigures:
        """The pool's sizing now, for the worker's status."""
        pool, now = self.pool, self._clock()
        return pb.PoolFigures(
            target=sum(pool.warm_targets(now).values()),
            floor=pool.limits.warm_target,
            ceiling=pool.ceiling,
            ready=len([s for s in pool.warm() if s.state is ChildState.READY]),
            starting=len([s for s in pool.warm() if s.state is ChildState.STARTING]),
            memory_bytes=self.memory.total(c.pid for c in self._table.all()),
            memory_budget_bytes=self.memory.budget,
            claimed_starting=self.claimed_starting,
        )
