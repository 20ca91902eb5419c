"""Pure: how many new conversations of a spawn signature arrive, in bursts and per second.

A new conversation is a request that needs a process of its own (served warm or cold, not
continued live). Per signature the estimator remembers the arrival times of the last
`memory_s` seconds and answers
  burst  the most arrivals within any `BURST_WINDOW_S` in that memory (a burst seen once is
         expected again while it is remembered; forgotten `memory_s` after its last arrival),
  rate   arrivals per second over the last `RATE_WINDOW_S`,
  wanted max(burst, rate x start time): what to keep ready so the next burst, or the arrivals
         during one process's start-up, find a process waiting.
The memory is the pool's idle time (WARM_IDLE_MS): once a signature's demand stops for that
long its wanted count is 0 and the pool goes back to its floor. No I/O; the clock is the
caller's.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

BURST_WINDOW_S = 2.0  # arrivals this close together count as one burst
RATE_WINDOW_S = 10.0
MAX_REMEMBERED = 4096  # arrivals per signature, at most (memory is bounded whatever the rate)


class Demand:
    """Arrivals of new conversations per signature key, over a sliding memory."""

    def __init__(self, memory_s: float) -> None:
        self.memory_s = memory_s
        # Per signature: (arrival time, arrivals within BURST_WINDOW_S up to and including it).
        self._arrivals: dict[str, deque[tuple[float, int]]] = {}

    def arrive(self, key: str, now: float) -> None:
        arrivals = self._arrivals.setdefault(key, deque(maxlen=MAX_REMEMBERED))
        self._forget(arrivals, now)
        times = [t for t, _ in arrivals]
        in_window = len(times) - bisect.bisect_left(times, now - BURST_WINDOW_S) + 1
        arrivals.append((now, in_window))

    def burst(self, key: str, now: float) -> int:
        """The largest burst remembered for this signature (0: none in memory)."""
        arrivals = self._arrivals.get(key)
        if not arrivals:
            return 0
        return max((count for t, count in arrivals if t > now - self.memory_s), default=0)

    def rate(self, key: str, now: float) -> float:
        """New conversations per second over the last RATE_WINDOW_S."""
        arrivals = self._arrivals.get(key) or ()
        recent = sum(1 for t, _ in arrivals if t > now - RATE_WINDOW_S)
        return recent / RATE_WINDOW_S

    def wanted(self, key: str, now: float, start_s: float) -> int:
        """Processes to keep ready for this signature: its burst, or what arrives while one
        process starts."""
        return max(self.burst(key, now), math.ceil(self.rate(key, now) * start_s))

    def last(self, key: str) -> float | None:
        """When the latest new conversation of this signature arrived."""
        arrivals = self._arrivals.get(key)
        return arrivals[-1][0] if arrivals else None

    def forget(self, now: float) -> None:
        """Drop what is older than the memory (signatures with nothing left go)."""
        for key in list(self._arrivals):
            self._forget(self._arrivals[key], now)
            if not self._arrivals[key]:
                del self._arrivals[key]

    def _forget(self, arrivals: deque[tuple[float, int]], now: float) -> None:
        horizon = now - max(self.memory_s, RATE_WINDOW_S, BURST_WINDOW_S)
        while arrivals and arrivals[0][0] <= horizon:
            arrivals.popleft()
