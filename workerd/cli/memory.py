"""The CLI pool's memory budget: the arithmetic (pure) and the one reading of a process.

The pool may hold as many warm processes as fit in the budget (CLI_MEMORY_BUDGET_MB) next to
everything else this worker's CLI processes use now. A process's memory is its PSS where
readable (shared pages split among their users: the node runtime of many CLIs counts once),
else its RSS. A process still starting has not grown yet: it counts as an idle one, the median
measured of this worker's settled processes (DEFAULT_PROCESS_BYTES until one is measured; the
pinned CLI measured 114 MB PSS, 177 MB RSS idle on 2.1.x). The default budget is a quarter of
the machine's memory shared among its CLI workers.

PSS is dear to read: the kernel walks the process's page tables (about 10 ms for one idle
2.1.332 CLI through smaps_rollup, 19 ms through psutil's memory_full_info), so reading it for
every process each second cost a workerd holding 57 of them 0.43 of a core while idle. RSS costs
a few microseconds. Each process's PSS is read when first seen and then every PSS_EVERY_S; in
between its size is that PSS moved by how much its RSS moved since (new pages are private, so
they count fully in both).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import Iterable
from pathlib import Path

import psutil

MIB = 1024 * 1024
PSS_EVERY_S = 30.0
DEFAULT_PROCESS_BYTES = 160 * MIB
DEFAULT_SHARE = 0.25  # of the machine's memory, for all its CLI workers together


def default_budget_bytes(total_bytes: int, cli_workers: int) -> int:
    return int(total_bytes * DEFAULT_SHARE) // max(1, cli_workers)


def per_process_bytes(settled: Iterable[int]) -> int:
    """What one more warm process will use: the median of the settled ones measured."""
    measured = [size for size in settled if size > 0]
    return int(statistics.median(measured)) if measured else DEFAULT_PROCESS_BYTES


def used_bytes(settled: Iterable[int], starting: Iterable[int], per_process: int) -> int:
    """All of the worker's CLI processes: the settled ones as measured, and each one still
    starting at what it will use (or what it uses already, if more)."""
    return sum(settled) + sum(max(size, per_process) for size in starting)


def ceiling(budget: int, used: int, per_process: int, warm_now: int) -> int:
    """How many warm processes the budget allows: those there are, and as many more as fit."""
    room = (budget - used) // max(1, per_process)
    return max(0, warm_now + room)


def estimate(pss_then: int, rss_then: int, rss_now: int) -> int:
    """A process's memory now from its last PSS reading and how far its RSS moved since."""
    return max(0, pss_then + rss_now - rss_then)


def rss_of(process: psutil.Process | None) -> int:
    """RSS, 0 when the process is gone."""
    if process is None:
        return 0
    with contextlib.suppress(psutil.Error, OSError):
        return int(process.memory_info().rss)
    return 0


def pss_of(process: psutil.Process | None) -> int:
    """PSS (smaps_rollup's Pss line, else psutil's full reading), 0 where unreadable."""
    if process is None:
        return 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{process.pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(psutil.Error, OSError):
        return int(getattr(process.memory_full_info(), "pss", 0))
    return 0


def machine_bytes() -> int:
    return int(psutil.virtual_memory().total)


class PoolMemory:
    """The last memory reading of this worker's CLI processes, and what the budget allows."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.sizes: dict[int, int] = {}  # pid -> bytes, as last read
        self.read_at = float("-inf")
        self._pss: dict[int, tuple[int, int, float]] = {}  # pid -> (PSS, RSS then, when)

    async def read(self, processes: dict[int, psutil.Process | None], now: float) -> None:
        """Read every process: its RSS, and its PSS when due (off the loop: /proc)."""
        self.sizes, self._pss = await asyncio.to_thread(self._sample, processes, now)
        self.read_at = now

    def _sample(
        self, processes: dict[int, psutil.Process | None], now: float
    ) -> tuple[dict[int, int], dict[int, tuple[int, int, float]]]:
        sizes: dict[int, int] = {}
        readings: dict[int, tuple[int, int, float]] = {}
        for pid, process in processes.items():
            rss = rss_of(process)
            if not rss:
                continue  # gone
            known = self._pss.get(pid)
            if known is None or now - known[2] >= PSS_EVERY_S:
                known = (pss_of(process) or rss, rss, now)
            readings[pid] = known
            sizes[pid] = estimate(known[0], known[1], rss)
        return sizes, readings

    def ceiling(self, states: dict[int, bool], warm_now: int) -> int:
        """Warm processes the budget allows; `states`: pid -> whether it is still starting,
        for every process; a process not read yet counts as an idle one."""
        return ceiling(self.budget, self.used(states), self.per_process(states), warm_now)

    def used(self, states: dict[int, bool]) -> int:
        """What the processes of `states` (pid -> still starting) use, as `ceiling` counts."""
        per_process = self.per_process(states)
        return used_bytes(
            [self.sizes.get(pid, per_process) for pid, starting in states.items() if not starting],
            [self.sizes.get(pid, 0) for pid, starting in states.items() if starting],
            per_process,
        )

    def size_of(self, pid: int, states: dict[int, bool]) -> int:
        """One settled process's memory as last read (an idle one's, if not read yet)."""
        return self.sizes.get(pid) or self.per_process(states)

    def per_process(self, states: dict[int, bool]) -> int:
        """What one more idle process will use (the median of the settled ones read)."""
        return per_process_bytes(
            self.sizes.get(pid, 0) for pid, starting in states.items() if not starting
        )

    def total(self, pids: Iterable[int]) -> int:
        return sum(self.sizes.get(pid, 0) for pid in pids)
