"""The CLI pool against its memory budget, with the fake `claude`: a burst grows the pool only
as far as the budget allows, and the pool goes back to its floor once demand stops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest

from tests.middle.workerd.test_engine import Worker
from workerd.cli import cpu
from workerd.cli.cpu import CpuGauge
from workerd.cli.memory import pss_of, rss_of
from workerd.cli.states import ChildState

pytestmark = pytest.mark.middle


def idle_bytes(worker: Worker) -> int:
    """What the idle processes (warm and parked) use now, read from /proc: the pool; a running
    turn may take a worker past its budget (no request is refused for memory), its leftovers
    may not stay past it."""
    idle = (ChildState.READY, ChildState.STARTING, ChildState.PARKED)
    total = 0
    for child in worker.table.all():
        if child.state in idle:
            with contextlib.suppress(psutil.Error):  # one that just exited uses nothing
                process = psutil.Process(child.pid)
                total += pss_of(process) or rss_of(process)
    return total


def within(worker: Worker, budget: int) -> bool:
    """Settled: no more ready processes than the budget allows, and the idle ones within it."""
    figures = worker.engine.figures()
    return figures.ready <= figures.ceiling and idle_bytes(worker) <= budget


IDLE_S = 4.0  # WARM_IDLE_MS for the test: demand is remembered, and surplus idles, this long


async def test_a_burst_grows_the_pool_within_its_budget_and_it_shrinks_back(
    tmp_path: Path,
) -> None:
    worker = Worker(tmp_path, warm_processes=1, max_idle_processes=100)
    engine = worker.engine
    engine.pool.limits = replace(engine.pool.limits, warm_idle_s=IDLE_S)
    engine.pool.demand.memory_s = IDLE_S
    await engine.start()
    try:
        await worker.ask("first", "hello")
        await worker.until("the floor", lambda: len(worker.pids(ChildState.READY)) == 1)
        engine.memory.read_at = float("-inf")
        await engine.measure()
        one = max(engine.memory.sizes.values())
        # Each burst leaves eight conversations parked (one process each): three of them ask for
        # 25 idle processes where the budget holds 12, so the pool must let the oldest go.
        engine.memory.budget = budget = 12 * one
        figures = []
        for burst in range(3):  # the later ones find what the first one taught
            await asyncio.gather(*(worker.ask(f"b{burst}-{n}", "hi") for n in range(8)))
            await worker.until("the pool refilled", lambda: engine.figures().starting == 0)
            await worker.until("the pool within its budget", lambda: within(worker, budget))
            figures.append(engine.figures())
        assert any(1 < f.ready for f in figures)  # grown for the bursts ...
        assert any(f.ceiling < 8 for f in figures)  # ... only as far as the budget lets it
        assert figures[-1].memory_budget_bytes == budget and figures[-1].claimed_starting >= 1
        assert len(worker.pids(ChildState.PARKED)) < 3 * 8  # held conversations let go
        stopped = asyncio.get_running_loop().time()
        # Back to the floor, and not under it: held conversations filling the budget are let
        # go (oldest first) to make room for WARM_PROCESSES.
        await worker.until("the floor again", lambda: len(worker.pids(ChildState.READY)) == 1)
        assert asyncio.get_running_loop().time() - stopped < IDLE_S + 1.5  # idle time + a poll
    finally:
        await worker.close()


async def test_on_a_busy_machine_the_pool_grows_no_further_than_its_floor(tmp_path: Path) -> None:
    """Starts for demand not yet arrived would take CPU from the turns running; requests still
    get their processes (claimed starts)."""
    worker = Worker(tmp_path, warm_processes=1, max_idle_processes=100)
    engine = worker.engine
    engine.machine_busy = lambda: True
    engine.pool.limits = replace(engine.pool.limits, warm_idle_s=IDLE_S)
    engine.pool.demand.memory_s = IDLE_S
    await engine.start()
    try:
        await worker.ask("first", "hello")
        for burst in range(2):
            answers = await asyncio.gather(*(worker.ask(f"b{burst}-{n}", "hi") for n in range(4)))
            assert all(text for _, text, _ in answers)  # every request served
            await worker.until("the pool refilled", lambda: engine.figures().starting == 0)
            assert engine.figures().target > 1  # the demand is known ...
            assert len(worker.pids(ChildState.READY)) <= 1  # ... and not started for
    finally:
        await worker.close()


def test_the_cpu_gauge_counts_other_work_not_our_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Busy when other processes use half the cores; our own children's CPU is left out."""
    clock = iter([0.0, 1.0, 2.0])
    busy_total = iter([0.0, 1.8, 3.6])  # cpu seconds of all cores: 90 % of 2 cores each second
    own = iter([0.0, 1.6, 1.6])  # our child used 1.6 s of it in the first second, none after
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(psutil, "cpu_count", lambda: 2)
    monkeypatch.setattr(psutil, "cpu_times", lambda: FakeTimes(next(busy_total)))
    monkeypatch.setattr(cpu, "cpu_seconds", lambda pid: next(own))
    gauge = CpuGauge(lambda: [4242], threshold=0.5, every_s=1.0)
    assert not gauge()  # the first look only sets the baseline
    assert not gauge()  # 1.8 s busy, 1.6 of it ours: others used 10 % of the cores
    assert gauge()  # 1.8 s busy, none ours: others used 90 %


class FakeTimes(NamedTuple):  # psutil's cpu_times: a named tuple, summed by the gauge
    user: float
    idle: float = 100.0
    iowait: float = 0.0


async def test_held_conversations_filling_the_budget_make_room_for_the_floor(
    tmp_path: Path,
) -> None:
    """Three conversations held, and a budget that fits them but not one ready process more:
    the oldest is let go so that the next new conversation still finds WARM_PROCESSES ready."""
    worker = Worker(tmp_path, warm_processes=1, max_idle_processes=100)
    engine = worker.engine
    await engine.start()
    try:
        await asyncio.gather(*(worker.ask(f"held-{n}", "hi") for n in range(3)))

        def three_held() -> bool:
            return (
                engine.figures().starting == 0
                and len(worker.pids(ChildState.READY)) >= 1
                and len(worker.pids(ChildState.PARKED)) == 3
            )

        await worker.until("three held and the floor", three_held)
        parked = worker.pids(ChildState.PARKED)
        engine.memory.read_at = float("-inf")
        await engine.measure()
        states = {pid: False for pid in engine.memory.sizes}
        held = engine.memory.total(parked)
        engine.memory.budget = held + engine.memory.per_process(states) // 2

        def floor_kept() -> bool:
            held_now = len(worker.pids(ChildState.PARKED))
            return 0 < held_now < 3 and len(worker.pids(ChildState.READY)) >= 1

        await worker.until("the oldest held ones let go for the floor", floor_kept)
    finally:
        await worker.close()
