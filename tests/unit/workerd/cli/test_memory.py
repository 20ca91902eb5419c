"""workerd/cli/memory.py: the arithmetic of the pool's memory budget."""

from __future__ import annotations

from workerd.cli.memory import (
    DEFAULT_PROCESS_BYTES,
    MIB,
    PoolMemory,
    ceiling,
    default_budget_bytes,
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
