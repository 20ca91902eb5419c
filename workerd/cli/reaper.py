"""The reaper: the one owner of process age, process silence, orphans and left-over processes.

Each tick it stops running children whose turn is older than MAX_PROCESS_AGE_MS, silent longer
than their idle limit, or orphaned (their request is gone); has the session engine retire idle
processes past the warm and conversation limits (never the silence limit: idle is their job);
stops tool processes that outlived their CLI (workerd is a child subreaper, so they become its
children) and collects them; and removes agent work dirs past their retention. At start-up it
sweeps every process a previous incarnation of this worker left behind, recognised by the
markers in its environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

from protos import worker_pb2
from workerd.cli.child_env import MARKER, STATE_MARKER
from workerd.cli.process import CliProcess, ProcessTable, is_live_process, kill_process_groups
from workerd.cli.states import ChildState
from workerd.config import WorkerdConfig

if TYPE_CHECKING:
    from workerd.cli.engine import SessionEngine

logger = logging.getLogger(__name__)
PR_SET_CHILD_SUBREAPER = 36
RECENT_REAPS = 200


@dataclass(frozen=True)
class ReapDecision:
    child: CliProcess
    reason: str


def decide(children: list[CliProcess], max_age_s: float) -> list[ReapDecision]:
    """Pure: which running children must go, and why (age first, then silence, then orphans).

    Idle ones (warm, parked) are the session engine's: their limits are of another kind.
    """
    decisions = []
    for child in children:
        if child.state is not ChildState.RUNNING:
            continue
        if child.busy_s() > max_age_s:
            decisions.append(ReapDecision(child, "age"))
        elif child.idle_limit_s and child.idle_s() > child.idle_limit_s:
            decisions.append(ReapDecision(child, "idle"))
        elif child.owner is not None and child.owner.done():
            decisions.append(ReapDecision(child, "orphaned"))
    return decisions


def become_subreaper() -> bool:
    """Orphaned tool processes re-parent to workerd instead of init, so they can be reaped."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class Reaper:
    """Periodic cleanup for one worker; `recent` remembers what it stopped, for the controller."""

    def __init__(
        self, config: WorkerdConfig, table: ProcessTable, engine: SessionEngine | None = None
    ) -> None:
        self._config = config
        self._table = table
        self._engine = engine
        self.reaped = 0
        self.recent: deque[worker_pb2.ReapRecord] = deque(maxlen=RECENT_REAPS)

    def _record(self, pid: int, reason: str, child: CliProcess | None = None) -> None:
        self.reaped += 1
        self.recent.append(
            worker_pb2.ReapRecord(
                id=self.reaped,
                pid=pid,
                request_id=child.request_id if child else "",
                model=child.model if child else "",
                reason=reason,
                age_s=child.age_s() if child else 0.0,
                idle_s=child.idle_s() if child else 0.0,
                ts=time.time(),
            )
        )

    async def run(self) -> None:
        interval = self._config.cli.reaper_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            await self.tick()

    async def tick(self) -> None:
        max_age = self._config.max_process_age_ms / 1000
        grace = self._config.stop_grace_ms / 1000
        for decision in decide(self._table.all(), max_age):
            logger.warning("reaping child %d: %s", decision.child.pid, decision.reason)
            self._record(decision.child.pid, decision.reason, decision.child)
            await decision.child.stop(grace, decision.reason)
            self._table.remove(decision.child)
        if self._engine is not None:
            for child, reason in await self._engine.expire():
                self._record(child.pid, reason, child)
        async with self._table.registering:  # no child is between fork and registration
            strays = await asyncio.to_thread(self._find_strays)
        await asyncio.to_thread(self._collect_strays, strays, grace)
        await asyncio.to_thread(self._prune_workdirs, time.time())

    def _find_strays(self) -> list[psutil.Process]:
        """Children that are not CLI processes: tool processes orphaned onto us. Only those
        carrying this worker's markers (inherited from their CLI) are ours to stop."""
        ours = {child.pid for child in self._table.all()}
        name, state = self._config.spec.name, str(self._config.paths.root)
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return []
        return [p for p in children if p.pid not in ours and _marked(p, name, state)]

    def _collect_strays(self, strays: list[psutil.Process], grace: float) -> None:
        """Stop the strays' process groups and collect them."""
        live = [p for p in strays if is_live_process(p)]
        if live:
            logger.warning("stopping %d orphaned tool processes", len(live))
            for process in live:
                self._record(process.pid, "orphaned tool")
            kill_process_groups(live, grace)
        for process in strays:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(process.pid, os.WNOHANG)

    def _prune_workdirs(self, now: float) -> None:
        retention = self._config.cli.workdir_retention_ms / 1000
        busy = {str(child.workdir) for child in self._table.all() if child.workdir}
        for path in self._config.work_root.glob("*"):
            with contextlib.suppress(OSError):
                if str(path) not in busy and now - path.stat().st_mtime > retention:
                    shutil.rmtree(path)

    def sweep_previous(self) -> int:
        """Stop every process a previous incarnation of this worker left (blocking, at start)."""
        name, state = self._config.spec.name, str(self._config.paths.root)
        me = os.getpid()
        leftovers = [p for p in psutil.process_iter() if p.pid != me and _marked(p, name, state)]
        if leftovers:
            logger.warning("sweeping %d processes left by a previous workerd", len(leftovers))
            kill_process_groups(leftovers, self._config.stop_grace_ms / 1000)
        return len(leftovers)


def _marked(process: psutil.Process, worker: str, state: str) -> bool:
    try:
        env = process.environ()
    except psutil.Error:
        return False
    return env.get(MARKER) == worker and env.get(STATE_MARKER) == state
