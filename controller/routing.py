"""Pure worker choice: follow the conversation when its worker can serve, else the best other.

A conversation stays on its worker unless that worker is down, draining, cooling down, over
its rate limit, or full with as many requests already waiting for it as it has slots; then the
request moves. A new conversation goes to the available worker with the most free capacity,
ties broken by least recent use, then PRIMARY_WORKER.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class WorkerView:
    """What routing needs to know about a worker; no I/O."""

    name: str
    up: bool = True
    draining: bool = False
    cooling: bool = False
    in_flight: int = 0
    max_concurrent: int = 1
    last_used: float = 0.0
    rate_wait_s: float = 0.0  # until this request's model family fits the worker's window
    waiting_for: int = 0  # queued requests whose conversation lives on this worker

    @property
    def available(self) -> bool:
        return self.up and not self.draining and not self.cooling

    @property
    def free(self) -> int:
        return self.max_concurrent - self.in_flight

    @property
    def can_take(self) -> bool:
        return self.available and self.free > 0 and self.rate_wait_s <= 0


@dataclass(frozen=True)
class Choice:
    """A worker to run on now (`worker`), or a reason to keep waiting (`worker` is None)."""

    worker: str | None
    moved: bool = False
    wait_for_preferred: bool = False


def choose_worker(
    workers: Sequence[WorkerView],
    preferred: str | None,
    primary: str,
    exclude: frozenset[str] = frozenset(),
) -> Choice:
    candidates = [w for w in workers if w.name not in exclude]
    home = next((w for w in candidates if w.name == preferred), None)
    if home is not None:
        if home.can_take:
            return Choice(home.name)
        if _worth_waiting_for(home):
            return Choice(None, wait_for_preferred=True)
    best = best_new_worker(candidates, primary)
    return Choice(best, moved=best is not None and preferred is not None)


def _worth_waiting_for(home: WorkerView) -> bool:
    """Full but otherwise fine, and its own queue is still short: the conversation waits."""
    return home.available and home.rate_wait_s <= 0 and home.waiting_for < home.max_concurrent


def best_new_worker(candidates: Sequence[WorkerView], primary: str) -> str | None:
    ready = [w for w in candidates if w.can_take]
    if not ready:
        return None
    return max(ready, key=lambda w: (w.free, -w.last_used, w.name == primary)).name
