"""controller/scheduling/routing.py: affinity-first worker choice, else the best other worker."""

from __future__ import annotations

from typing import Any

import pytest

from controller.scheduling.routing import Choice, WorkerView, best_new_worker, choose_worker


def test_worker_view_defaults_can_take() -> None:
    worker = WorkerView("1")
    assert worker.available
    assert worker.free == 1
    assert worker.can_take


@pytest.mark.parametrize(
    "fields",
    [
        {"up": False},
        {"draining": True},
        {"cooling": True},
    ],
)
def test_unavailable_workers_cannot_take(fields: dict[str, Any]) -> None:
    worker = WorkerView("1", max_concurrent=4, **fields)
    assert not worker.available
    assert not worker.can_take


def test_full_worker_is_available_but_cannot_take() -> None:
    worker = WorkerView("1", in_flight=2, max_concurrent=2)
    assert worker.available
    assert worker.free == 0
    assert not worker.can_take
    assert not WorkerView("1", in_flight=3, max_concurrent=2).can_take


def test_rate_wait_blocks_taking() -> None:
    assert not WorkerView("1", max_concurrent=4, rate_wait_s=0.5).can_take
    assert WorkerView("1", max_concurrent=4, rate_wait_s=0.0).can_take
    assert WorkerView("1", max_concurrent=4, rate_wait_s=-1.0).can_take


def test_conversation_stays_on_its_worker() -> None:
    workers = [WorkerView("1", max_concurrent=4), WorkerView("2", max_concurrent=8)]
    assert choose_worker(workers, preferred="1", primary="2") == Choice("1")


def test_new_conversation_goes_to_most_free_capacity() -> None:
    workers = [
        WorkerView("1", in_flight=3, max_concurrent=4),
        WorkerView("2", in_flight=0, max_concurrent=2),
        WorkerView("3", in_flight=1, max_concurrent=2),
    ]
    choice = choose_worker(workers, preferred=None, primary="1")
    assert choice == Choice("2", moved=False, wait_for_preferred=False)


def test_ties_broken_by_least_recent_use_then_primary() -> None:
    workers = [
        WorkerView("1", max_concurrent=2, last_used=200.0),
        WorkerView("2", max_concurrent=2, last_used=100.0),
        WorkerView("3", max_concurrent=2, last_used=300.0),
    ]
    assert best_new_worker(workers, primary="3") == "2"
    equal = [WorkerView(name, max_concurrent=2, last_used=5.0) for name in ("1", "2", "3")]
    assert best_new_worker(equal, primary="2") == "2"
    assert best_new_worker(equal, primary="3") == "3"
    assert best_new_worker(equal, primary="absent") == "1"  # then configuration order


def test_capacity_beats_recency_and_primary() -> None:
    workers = [
        WorkerView("primary", max_concurrent=2, in_flight=1, last_used=0.0),
        WorkerView("other", max_concurrent=2, in_flight=0, last_used=999.0),
    ]
    assert best_new_worker(workers, primary="primary") == "other"


@pytest.mark.parametrize(
    "fields",
    [{"up": False}, {"draining": True}, {"cooling": True}, {"rate_wait_s": 3.0}],
)
def test_conversation_moves_when_its_worker_cannot_serve(fields: dict[str, Any]) -> None:
    home = WorkerView("1", max_concurrent=2, **fields)
    workers = [home, WorkerView("2", max_concurrent=2)]
    assert choose_worker(workers, preferred="1", primary="1") == Choice("2", moved=True)


def test_full_home_with_short_queue_waits_for_it() -> None:
    workers = [
        WorkerView("1", in_flight=2, max_concurrent=2, waiting_for=1),
        WorkerView("2", max_concurrent=2),
    ]
    choice = choose_worker(workers, preferred="1", primary="1")
    assert choice == Choice(None, moved=False, wait_for_preferred=True)


def test_full_home_with_long_queue_moves() -> None:
    workers = [
        WorkerView("1", in_flight=2, max_concurrent=2, waiting_for=2),
        WorkerView("2", max_concurrent=2),
    ]
    assert choose_worker(workers, preferred="1", primary="1") == Choice("2", moved=True)


def test_excluded_home_moves_elsewhere() -> None:
    workers = [WorkerView("1", max_concurrent=2), WorkerView("2", max_concurrent=2)]
    choice = choose_worker(workers, preferred="1", primary="1", exclude=frozenset({"1"}))
    assert choice == Choice("2", moved=True)


def test_excluded_workers_are_never_chosen() -> None:
    workers = [WorkerView("1", max_concurrent=9), WorkerView("2", max_concurrent=1)]
    choice = choose_worker(workers, preferred=None, primary="1", exclude=frozenset({"1"}))
    assert choice.worker == "2"
    assert choose_worker(workers, None, "1", exclude=frozenset({"1", "2"})) == Choice(None)


def test_unknown_preferred_worker_counts_as_a_move() -> None:
    workers = [WorkerView("1", max_concurrent=2)]
    assert choose_worker(workers, preferred="gone", primary="1") == Choice("1", moved=True)


def test_nothing_available_returns_none_without_waiting_flag() -> None:
    workers = [
        WorkerView("1", up=False, max_concurrent=2),
        WorkerView("2", in_flight=2, max_concurrent=2),
    ]
    assert choose_worker(workers, preferred=None, primary="1") == Choice(None)
    assert best_new_worker(workers, primary="1") is None
    assert choose_worker([], preferred=None, primary="1") == Choice(None)
    assert best_new_worker([], primary="1") is None


def test_unavailable_home_and_no_other_worker_is_not_a_move() -> None:
    workers = [WorkerView("1", up=False, max_concurrent=2)]
    assert choose_worker(workers, preferred="1", primary="1") == Choice(None)


def test_rate_limited_workers_are_skipped_for_new_conversations() -> None:
    workers = [
        WorkerView("1", max_concurrent=8, rate_wait_s=2.0),
        WorkerView("2", max_concurrent=1),
    ]
    assert best_new_worker(workers, primary="1") == "2"
