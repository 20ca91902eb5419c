"""The session engine: the one owner of a worker's CLI processes between requests.

It spawns processes (cold for a request, or warm ahead of demand: ready once they answered
`initialize`), lends one to each request as the pool plans (live, warm, a warm one still
starting that the request claims and waits for, or cold), parks it for its conversation after a
turn that succeeded, and retires it otherwise. A new conversation with nothing to claim asks
for a start and waits for it: at most `start_concurrency` processes start at once, as CLI
start-ups at once slow each other (config.py). The warm pool follows demand within the memory
budget (sessions.py, demand.py, memory.py). The decisions are the
pool's (sessions.py, pure); this module does the process I/O around them. docs/claude-cli.md
("Warm processes and live conversations") has the CLI facts this relies on; spawner.py starts
the processes and removes their files.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from protos import common_pb2 as pb
from workerd.anthropic.content import Turn
from workerd.cli.bridge import ToolResult
from workerd.cli.cpu import CpuGauge
from workerd.cli.invocation import CliInvocation, Signature
from workerd.cli.lines import turn_lines
from workerd.cli.memory import PoolMemory
from workerd.cli.process import CliProcess, ProcessTable
from workerd.cli.sessions import (
    COLD,
    LIVE,
    REMEMBERED_CONVERSATIONS,
    Plan,
    PoolLimits,
    SessionPool,
    Slot,
)
from workerd.cli.spawner import Spawner
from workerd.cli.states import ChildState
from workerd.cli.warm_pool import WarmPool
from workerd.config import WorkerdConfig

logger = logging.getLogger(__name__)


@dataclass
class Lease:
    """A process lent to one request, and what to write to it."""

    child: CliProcess
    slot: Slot
    plan: Plan
    history: list[tuple[str, str]]  # earlier turns not yet in the process
    final_line: str
    results: list[ToolResult] | None = None  # a turn resumed with its tool calls' results

    @property
    def bytes_written(self) -> int:
        if self.results is not None:  # the results go in as answers to the held calls
            return sum(len(result.content.encode()) for result in self.results)
        return sum(len(line.encode()) + 1 for _, line in self.history) + len(self.final_line) + 1

    def session_event(self) -> pb.Event:
        info = pb.SessionInfo(
            served=self.plan.served,
            rebuild_reason=self.plan.rebuild_reason,
            pid=self.child.pid,
            bytes_written=self.bytes_written,
        )
        return pb.Event(session=info)


def limits_of(config: WorkerdConfig) -> PoolLimits:
    sessions = config.cli.sessions
    return PoolLimits(
        warm_processes=sessions.warm_processes,
        max_idle=sessions.max_idle_processes,
        warm_max_age_s=sessions.warm_max_age_ms / 1000,
        conversation_idle_s=sessions.conversation_idle_ms / 1000,
        max_age_s=config.max_process_age_ms / 1000,
        tool_result_timeout_s=sessions.tool_result_timeout_ms / 1000,
        warm_idle_s=config.pool.warm_idle_ms / 1000,
    )


class SessionEngine(WarmPool):
    """Spawns, warms, lends, parks and retires this worker's CLI processes."""

    def __init__(
        self,
        config: WorkerdConfig,
        table: ProcessTable,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._table = table
        self._clock = clock
        self.pool = SessionPool(limits_of(config))
        self.spawner = Spawner(config, table)
        self._conversation_dirs: OrderedDict[str, Path] = OrderedDict()  # agent mode
        self._wake = asyncio.Event()
        self._warming: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()  # retired after a run, still exiting
        self._handshakes: dict[int, asyncio.Task[bool]] = {}  # starting processes, by pid
        self._waiting: Counter[str] = Counter()  # requests waiting for a start, per signature
        self._progress = asyncio.Event()  # set (and replaced) when a start begins or ends
        self.memory = PoolMemory(config.pool.memory_budget_bytes)
        self.claimed_starting = 0  # requests served by a process that was still starting
        self.machine_busy: Callable[[], bool] = CpuGauge(
            lambda: [child.pid for child in table.all()]
        )

    @property
    def agent(self) -> bool:
        return self._config.spec.mode == "agent"

    async def start(self) -> None:
        self._warming = asyncio.create_task(self._keep_warm())

    async def close(self) -> None:
        """Stop warming and retire every idle process (running ones end with their runs)."""
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
        for handshake in self._handshakes.values():
            handshake.cancel()
        await asyncio.gather(*self._handshakes.values(), return_exceptions=True)
        idle = self.pool.slots(
            ChildState.STARTING, ChildState.READY, ChildState.PARKED, ChildState.AWAITING
        )
        await asyncio.gather(*(self.retire(slot, "stopping") for slot in idle))
        await asyncio.gather(*self._stopping, return_exceptions=True)

    # --- the request path -----------------------------------------------------------------

    async def acquire(
        self,
        invocation: CliInvocation,
        key: str,
        request: pb.ChatRequest,
        idle_limit_s: float,
        cold: bool = False,
        opened_at: float = 0.0,
    ) -> Lease | None:
        """A process for this request (silent at most `idle_limit_s` while it answers): its
        conversation's, a warm one, or a new one (told the date of `opened_at`, if rebuilt)."""
        signature = invocation.signature
        self.pool.learn(signature)
        long_history = self.spawner.resumes(signature.model, invocation.history_turns)
        counted = cold  # a warm failure's retry was counted as a new conversation already
        while True:
            now = self._clock()
            plan = self.pool.plan(signature, key, invocation.turns, invocation.within_budget, now)
            workdir = self._conversation_dir(key)
            own_start = cold or workdir is not None or long_history
            if own_start and plan.served != LIVE:
                # An agent conversation rebuilt keeps its files: a process started in its dir;
                # a long history goes in at start-up (resume.py), which a warm process missed.
                plan = Plan(COLD, None, plan.turns, plan.rebuild_reason)
            if not counted and plan.served != LIVE:
                self.pool.arrive(signature, now)
                counted = True
            if plan.slot is None and not own_start and self._may_wait(signature):
                await self._await_start(signature)  # then claim what started
                continue
            if plan.slot is None:
                resumed = invocation.history_turns if long_history else None
                return await self._cold(
                    invocation, plan, key, request, idle_limit_s, workdir, resumed, opened_at
                )
            if plan.slot.state is ChildState.STARTING and not await self._claim(plan.slot):
                cold = True  # its start failed (the signature falls back): a cold spawn
                continue
            child = self._table.get(plan.slot.pid)
            if child is not None and child.alive:
                break
            await self.retire(plan.slot, "gone")  # died while idle: plan again
        self.pool.take(plan.slot, key, self._clock())
        child.lend(request.request_id, idle_limit_s)
        child.model, child.conversation = request.model, key[-12:]
        return self._lease(child, plan.slot, plan, invocation)  # replaced once it answers

    def _may_wait(self, signature: Signature) -> bool:
        """Whether a new conversation waits for a paced start rather than spawning its own:
        with the pool on (and its loop running) and its signature's warm starts not failing."""
        if self.pool.limits.max_idle <= 0 or self._warming is None or self._warming.done():
            return False
        return signature.key not in self.pool.fallbacks(self._clock())

    async def _await_start(self, signature: Signature) -> None:
        """Ask for a start of this signature and wait until a start begins or ends."""
        progress = self._progress
        self._waiting[signature.key] += 1
        self._wake.set()
        try:
            await progress.wait()
        finally:
            self._waiting[signature.key] -= 1
            if self._waiting[signature.key] <= 0:
                del self._waiting[signature.key]

    async def _claim(self, slot: Slot) -> bool:
        """Wait for a starting process promised to this request; False if its start failed
        (then it is gone). Cancelled, the promise is withdrawn: the process stays warm."""
        slot.claimed = True
        self.claimed_starting += 1
        handshake = self._handshakes.get(slot.pid)
        try:
            ready = await asyncio.shield(handshake) if handshake is not None else False
        except asyncio.CancelledError:
            if handshake is not None and handshake.cancelled():
                return False  # the worker is closing: the start went with it
            slot.claimed = False
            if handshake is not None and handshake.done() and not handshake.cancelled():
                self._promote(slot)
            raise
        return ready and self.pool.get(slot.pid) is slot

    def _progressed(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    async def _cold(
        self,
        invocation: CliInvocation,
        plan: Plan,
        key: str,
        request: pb.ChatRequest,
        idle_limit_s: float,
        workdir: Path | None,
        resumed: list[Turn] | None,
        opened_at: float = 0.0,
    ) -> Lease | None:
        """A new process; `resumed` is the history it is started with (resume.py), if any."""
        signature = invocation.signature
        child = await self.spawner.spawn(
            signature, request.request_id, workdir, invocation.env, resumed, opened_at
        )
        if child is None:
            return None
        history_in = self.spawner.started_with_history(child.pid)
        now = self._clock()
        slot = Slot(child.pid, signature, ChildState.RUNNING, born=now, since=now, key=key)
        self.pool.add(slot)
        child.lend(request.request_id, idle_limit_s)
        child.conversation = key[-12:]
        if history_in:  # only the new turn is written
            return Lease(child, slot, plan, [], invocation.final_line)
        return self._lease(child, slot, plan, invocation)

    def _lease(self, child: CliProcess, slot: Slot, plan: Plan, invocation: CliInvocation) -> Lease:
        if plan.served == LIVE and slot.awaiting:
            results = [
                ToolResult(b["tool_use_id"], _text_of(b.get("content")), bool(b.get("is_error")))
                for b in plan.turns[0].blocks
            ]
            return Lease(child, slot, plan, [], "", results)
        if plan.served == LIVE:
            history, final = turn_lines(plan.turns[:-1], plan.turns[-1])
        else:
            history, final = invocation.history, invocation.final_line
        return Lease(child, slot, plan, history, final)

    def _conversation_dir(self, key: str) -> Path | None:
        """Agent mode: the working directory an earlier turn of this conversation used."""
        path = self._conversation_dirs.get(key) if key and self.agent else None
        return path if path is not None and path.is_dir() else None

    def release(
        self,
        lease: Lease,
        held: list[Turn] | None,
        reason: str,
        awaiting: tuple[str, ...] = (),
    ) -> None:
        """After the turn: park the process holding `held` (waiting on the tool calls in
        `awaiting`, if any), or retire it for `reason`. Returns at once: a process retired
        here exits after the run's stream has ended (retire_soon)."""
        slot, child = lease.slot, lease.child
        self.spawner.forget_session_file(slot.pid)  # read at start-up; the process holds it now
        if held is None or not child.alive or self.pool.limits.max_idle <= 0:
            self.retire_soon(slot, reason if held is None else "evicted")
            return
        evicted = self.pool.park(slot.pid, held, self._clock(), awaiting)
        child.settle(ChildState.AWAITING if awaiting else ChildState.PARKED)
        workdir = self.spawner.workdir_of(slot.pid)
        if workdir is not None and slot.key:
            os.utime(workdir)  # retention counts from the last turn
            self._conversation_dirs[slot.key] = workdir
            self._conversation_dirs.move_to_end(slot.key)
            while len(self._conversation_dirs) > REMEMBERED_CONVERSATIONS:
                self._conversation_dirs.popitem(last=False)
        for other in evicted:
            self.retire_soon(other, "evicted")
        self._wake.set()

    def turn_answering(self) -> None:
        """A turn has its first output: warm processes may start now (a taken one replaced,
        a new signature's warmed). Started while a request still waits for its CLI, their
        start-up (about 0.4 s of CPU each) slows that CLI's own start or its work before the
        upstream call: 8 to 12 ms a warm turn on 2 cores. A turn that ends first wakes them
        in `release`."""
        self._wake.set()

    def fall_back(self, signature: Signature) -> bool:
        """A warm process failed on its first message: cold spawns for this signature."""
        fresh = self.pool.fall_back(signature, self._clock())
        if fresh:
            logger.warning("warm processes of signature %s failed: cold spawns", signature.key)
        return fresh

    # --- retiring -------------------------------------------------------------------------

    async def retire(self, slot: Slot, reason: str) -> None:
        """Forget the process and stop it; its files go with it."""
        self.pool.remove(slot.pid, reason)
        await self._stop(slot.pid, reason)

    def retire_soon(self, slot: Slot, reason: str) -> None:
        """As `retire`, but only the bookkeeping is done now; the stop goes on in a task.

        A CLI takes about 10 ms to exit after SIGINT, and a run's stream (so the client's
        answer) would wait for it. The pool forgets the process at once (no request is given
        it), and it stays in the table, STOPPING, until it is gone (no stray to the reaper)."""
        self.pool.remove(slot.pid, reason)
        child = self._table.get(slot.pid)
        if child is not None:
            child.interrupt(reason)  # now: the task below may run after the CLI went on
        task = asyncio.create_task(self._stop(slot.pid, reason))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop(self, pid: int, reason: str) -> None:
        child = self._table.get(pid)
        try:
            if child is not None:
                await child.stop(self._config.stop_grace_ms / 1000, reason)
        finally:
            if child is not None:
                self._table.remove(child)
            self.spawner.forget(pid)
            self._wake.set()

    async def expire(self) -> list[tuple[CliProcess, str]]:
        """Retire idle processes past their limits or dead; returns what went and why."""
        now = self._clock()
        due = self.pool.expired(now)
        for slot in self.pool.slots(ChildState.READY, ChildState.PARKED, ChildState.AWAITING):
            child = self._table.get(slot.pid)
            if (child is None or not child.alive) and all(s is not slot for s, _ in due):
                due.append((slot, "gone"))
        gone = [(self._table.get(slot.pid), reason) for slot, reason in due]
        await asyncio.gather(*(self.retire(slot, reason) for slot, reason in due))
        return [(child, reason) for child, reason in gone if child is not None]


def _text_of(content: object) -> str:
    """A tool_result block's content (a string, or text blocks) as the text it carries."""
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")
