"""The CLI pool's memory budget: the arithmetic (pure) and the one reading of a process.

The pool may hold as many warm processes as fit in the budget (CLI_MEMORY_BUDGET_MB) next to
everything else this worker's CLI processes use now. A process's memory is its PSS where
readable (shared pages split among their users: the node runtime of many CLIs counts once),
else its RSS. A process still starting has not grown yet: it counts as an idle one, the median
measured of this worker's settled processes (DEFAULT_PROCESS_BYTES until one is measured; the
pinned CLI measured 114 MB PSS, 177 MB RSS idle on 2.1.x). The default budget is a quarter of
the machine's memory shared among its CLI workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import Callable, Iterable

import psutil

MIB = 1024 * 1024
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


def process_bytes(process: psutil.Process | None) -> int:
    """PSS where readable, else RSS; 0 when the process is gone (a read of /proc: off the
    loop)."""
    if process is None:
        return 0
    with contextlib.suppress(psutil.Error, OSError):
        pss = getattr(process.memory_full_info(), "pss", 0)
        if pss:
            return int(pss)
    with contextlib.suppress(psutil.Error, OSError):
        return int(process.memory_info().rss)
    return 0


def machine_bytes() -> int:
    return int(psutil.virtual_memory().total)


class PoolMemory:
    """The last memory reading of this worker's CLI processes, and what the budget allows."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.sizes: dict[int, int] = {}  # pid -> bytes, as last read
        self.read_at = float("-inf")

    async def read(self, readers: dict[int, Callable[[], int]], now: float) -> None:
        """Read every process (off the loop: /proc, up to a few ms each)."""
        pids = list(readers)
        sizes = await asyncio.to_thread(lambda: [readers[pid]() for pid in pids])
        self.sizes = {pid: size for pid, size in zip(pids, sizes, strict=True) if size}
        self.read_at = now

    def ceiling(self, states: dict[int, bool], warm_now: int) -> int:
        """Warm processes the budget allows; `states`: pid -> whether it is still starting,
        for every process; a process not read yet counts as an idle one."""
        return ceiling(self.budget, self.used(states), self._per_process(states), warm_now)

    def used(self, states: dict[int, bool]) -> int:
        """What the processes of `states` (pid -> still starting) use, as `ceiling` counts."""
        per_process = self._per_process(states)
        return used_bytes(
            [self.sizes.get(pid, per_process) for pid, starting in states.items() if not starting],
            [self.sizes.get(pid, 0) for pid, starting in states.items() if starting],
            per_process,
        )

    def size_of(self, pid: int, states: dict[int, bool]) -> int:
        """One settled process's memory as last read (an idle one's, if not read yet)."""
        return self.sizes.get(pid) or self._per_process(states)

    def _per_process(self, states: dict[int, bool]) -> int:
        return per_process_bytes(
            self.sizes.get(pid, 0) for pid, starting in states.items() if not starting
        )

    def total(self, pids: Iterable[int]) -> int:
        return sum(self.sizes.get(pid, 0) for pid in pids)
