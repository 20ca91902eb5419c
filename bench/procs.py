"""CPU time and memory of the processes a benchmark watches, by role, through psutil."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import psutil

MiB = 1024 * 1024


@dataclass
class Watched:
    """Named groups of processes (a role may be several processes, e.g. workerds)."""

    roles: dict[str, list[psutil.Process]]

    def cpu_s(self) -> dict[str, float]:
        """User plus system CPU seconds each role has used so far (children included)."""
        return {role: sum(_cpu(p) for p in procs) for role, procs in self.roles.items()}

    def rss_mib(self) -> dict[str, float]:
        return {role: sum(_rss(p) for p in procs) / MiB for role, procs in self.roles.items()}

    def shared_aware_mib(self) -> dict[str, dict[str, float]]:
        """PSS (shared pages divided among the processes that map them) and USS (the pages
        only this process has: what stopping it frees), per role. RSS counts a shared library
        whole in every process that maps it, so three processes' RSS overstate what they use
        together."""
        totals: dict[str, dict[str, float]] = {}
        for role, procs in self.roles.items():
            pss = uss = 0
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    info = proc.memory_full_info()
                    pss, uss = pss + int(info.pss), uss + int(info.uss)
            totals[role] = {"pss": pss / MiB, "uss": uss / MiB}
        return totals


def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
        children = sum(_cpu(c) for c in proc.children(recursive=False))
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system) + children


def _rss(proc: psutil.Process) -> int:
    try:
        rss = int(proc.memory_info().rss)
        return rss + sum(_rss(c) for c in proc.children(recursive=False))
    except psutil.NoSuchProcess:
        return 0


def stack_roles(supervisor_pid: int) -> dict[str, list[psutil.Process]]:
    """The stack's processes under its launcher: frontdoor, controller, workerds."""
    roles: dict[str, list[psutil.Process]] = {"frontdoor": [], "controller": [], "workerd": []}
    for proc in psutil.Process(supervisor_pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            cmdline = " ".join(proc.cmdline())
            for role in roles:
                if f"-m {role}" in cmdline:
                    roles[role].append(proc)
    return roles


@dataclass
class PeakRss:
    """Samples RSS every `every_s` while running; keeps the peak of each role's sum."""

    watched: Watched
    every_s: float = 0.1
    peak: dict[str, float] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def sampling(self) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(self._sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sample(self) -> None:
        while True:
            for role, mib in self.watched.rss_mib().items():
                self.peak[role] = max(self.peak.get(role, 0.0), mib)
            await asyncio.sleep(self.every_s)


def per_request_ms(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    return {role: (after[role] - before[role]) * 1000 / max(requests, 1) for role in after}


@dataclass(frozen=True)
class Elsewhere:
    """CPU marks to tell how much other work shared the machine over a run: the cores' busy
    time less this process's own and its reaped children's. (A load average counts the bench's
    own processes too: eight CLIs starting make it 8.)"""

    at: float
    busy: float
    own: float

    @classmethod
    def mark(cls) -> Elsewhere:
        total = psutil.cpu_times()
        mine = psutil.Process().cpu_times()
        own = mine.user + mine.system + mine.children_user + mine.children_system
        busy = sum(total) - total.idle - getattr(total, "iowait", 0.0)
        return cls(time.monotonic(), busy, own)

    def share_until(self, later: Elsewhere) -> float:
        """Of all the cores' time between the two marks, the share others used."""
        cores = psutil.cpu_count() or 1
        other = (later.busy - self.busy) - (later.own - self.own)
        return max(0.0, other) / ((later.at - self.at) * cores)
