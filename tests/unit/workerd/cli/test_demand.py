"""workerd/cli/demand.py: bursts and rates of new conversations per signature."""

from __future__ import annotations

from workerd.cli.demand import BURST_WINDOW_S, RATE_WINDOW_S, Demand


def test_a_burst_is_the_most_arrivals_within_the_burst_window() -> None:
    demand = Demand(memory_s=60.0)
    for t in (0.0, 0.1, 0.2, 5.0, 5.5, 10.0):
        demand.arrive("s", t)
    assert demand.burst("s", 10.0) == 3
    assert demand.burst("other", 10.0) == 0
    demand.arrive("s", 10.0 + BURST_WINDOW_S + 0.1)
    assert demand.burst("s", 12.2) == 3  # two apart by more than the window: not one burst


def test_a_burst_is_forgotten_after_the_memory() -> None:
    demand = Demand(memory_s=30.0)
    for _ in range(8):
        demand.arrive("s", 0.0)
    demand.arrive("s", 20.0)
    assert demand.burst("s", 29.9) == 8
    assert demand.burst("s", 30.0) == 1
    assert demand.burst("s", 50.0) == 0
    assert demand.last("s") == 20.0


def test_wanted_covers_what_arrives_during_one_start() -> None:
    demand = Demand(memory_s=60.0)
    for n in range(20):  # one every half second: 5 within any 2 s (both ends included)
        demand.arrive("s", n * 0.5)
    assert demand.burst("s", 9.5) == 5
    assert demand.rate("s", 9.5) == 20 / RATE_WINDOW_S
    assert demand.wanted("s", 9.5, start_s=4.0) == 8  # 2 a second for 4 s
    assert demand.wanted("s", 9.5, start_s=0.5) == 5  # the burst is more


def test_forget_drops_signatures_with_nothing_left() -> None:
    demand = Demand(memory_s=5.0)
    demand.arrive("s", 0.0)
    demand.forget(RATE_WINDOW_S + 1)
    assert demand.last("s") is None and demand.wanted("s", 100.0, 1.0) == 0
