"""Pure worker choice: round-robin over workers that are up and have a free slot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class WorkerSlotView:
    """What routing needs to know about a worker; no I/O."""

    name: str
    up: bool
    in_flight: int
    max_concurrent: int

    @property
    def has_capacity(self) -> bool:
        return self.up and self.in_flight < self.max_concurrent


class RoundRobin:
    """Cycles through worker names in configuration order, skipping those that cannot serve."""

    def __init__(self) -> None:
        self._next = 0

    def pick(
        self, workers: Sequence[WorkerSlotView], exclude: frozenset[str] = frozenset()
    ) -> str | None:
        count = len(workers)
        for offset in range(count):
            index = (self._next + offset) % count
            worker = workers[index]
            if worker.has_capacity and worker.name not in exclude:
                self._next = index + 1
                return worker.name
        return None
