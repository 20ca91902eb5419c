"""workerd/cli/memory.py: the arithmetic of the pool's memory budget."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from workerd.cli.memory import (
    DEFAULT_PROCESS_BYTES,
    MIB,
    PSS_EVERY_S,
    PoolMemory,
    ceiling,
    default_budget_bytes,
    estimate,
    per_process_bytes,
    used_bytes,
)


def test_one_more_process_is_the_median_of_the_settled_ones() -> None:
    assert per_process_bytes([]) == DEFAULT_PROCESS_BYTES
    assert per_process_bytes([0, 100, 300, 200]) == 200  # 0: not read


def test_a_starting_process_counts_at_what_it_will_use() -> None:
    assert used_bytes([100, 100], [10, 300], per_process=100) == 600


def test_the_ceiling_is_the_warm_ones_and_what_more_fits() -> None:
    assert ceiling(budget=1000, used=600, per_process=100, warm_now=2) == 6
    assert ceiling(budget=1000, used=1150, per_process=100, warm_now=3) == 1  # over: fewer
    assert ceiling(budget=1000, used=5000, per_process=100, warm_now=3) == 0


def test_the_default_budget_is_a_quarter_of_the_machine_over_its_cli_workers() -> None:
    assert default_budget_bytes(16_000 * MIB, 1) == 4_000 * MIB
    assert default_budget_bytes(16_000 * MIB, 4) == 1_000 * MIB
    assert default_budget_bytes(16_000 * MIB, 0) == 4_000 * MIB


def test_pool_memory_counts_unread_processes_as_idle_ones() -> None:
    memory = PoolMemory(budget_bytes=1000)
    memory.sizes = {1: 100, 2: 300}
    # 1 and 2 settled (median 200); 3 settled but unread (200); 4 starting (at least 200).
    states = {1: False, 2: False, 3: False, 4: True}
    assert memory.ceiling(states, warm_now=2) == 2 + (1000 - 800) // 200
    assert memory.total([1, 2, 3]) == 400


class _Process:
    """Stands in for a psutil.Process of no real pid (no smaps_rollup): counts PSS readings."""

    pid = -1

    def __init__(self, rss: int, pss: int) -> None:
        self.rss, self.pss, self.pss_reads = rss, pss, 0

    def memory_info(self) -> SimpleNamespace:
        return SimpleNamespace(rss=self.rss)

    def memory_full_info(self) -> SimpleNamespace:
        self.pss_reads += 1
        return SimpleNamespace(pss=self.pss)


def test_pss_is_read_when_due_and_rss_moves_it_in_between() -> None:
    memory = PoolMemory(budget_bytes=1000)
    first = _Process(rss=300, pss=200)
    processes: dict[int, Any] = {1: first}
    sizes, memory._pss = memory._sample(processes, now=0.0)
    assert sizes == {1: 200} and first.pss_reads == 1
    first.rss = 350  # grew by 50 private bytes
    sizes, memory._pss = memory._sample(processes, now=PSS_EVERY_S - 1)
    assert sizes == {1: 250} and first.pss_reads == 1  # no new PSS reading before it is due
    first.pss = 260
    sizes, memory._pss = memory._sample(processes, now=PSS_EVERY_S)
    assert sizes == {1: 260} and first.pss_reads == 2


def test_a_gone_process_is_forgotten() -> None:
    memory = PoolMemory(budget_bytes=1000)
    both: dict[int, Any] = {1: _Process(rss=300, pss=200), 2: None}
    sizes, memory._pss = memory._sample(both, now=0.0)
    assert sizes == {1: 200}
    gone: dict[int, Any] = {1: _Process(rss=0, pss=0)}
    sizes, memory._pss = memory._sample(gone, now=1.0)
    assert sizes == {} and memory._pss == {}


def test_the_estimate_never_goes_below_zero() -> None:
    assert estimate(pss_then=100, rss_then=300, rss_now=350) == 150
    assert estimate(pss_then=100, rss_then=300, rss_now=100) == 0
