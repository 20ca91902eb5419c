"""Whether other work keeps the machine's cores busy (the warm pool waits for demand then)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable

import psutil


class CpuGauge:
    """Whether other work keeps the machine's cores busy: the share of all cores used by
    processes that are not this worker's CLI children, since the last look (at most once a
    second). Our own turns do not count: a burst's CLI runs must not stop the pool growing
    for the next one; a load average would also lag by a minute."""

    def __init__(
        self,
        own_pids: Callable[[], Iterable[int]] = tuple,
        threshold: float = 0.5,
        every_s: float = 1.0,
    ) -> None:
        self._own_pids = own_pids
        self._threshold = threshold
        self._every_s = every_s
        self._at = float("-inf")
        self._busy_total = 0.0
        self._own: dict[int, float] = {}
        self._busy = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._at < self._every_s:
            return self._busy
        times = psutil.cpu_times()
        busy_total = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        own = {pid: cpu_seconds(pid) for pid in self._own_pids()}
        own_delta = sum(used - self._own.get(pid, 0.0) for pid, used in own.items())
        if self._at != float("-inf"):
            cores = psutil.cpu_count() or 1
            other = (busy_total - self._busy_total - own_delta) / ((now - self._at) * cores)
            self._busy = other >= self._threshold
        self._at, self._busy_total, self._own = now, busy_total, own
        return self._busy


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    return 0.0
