"""backlog.py: the bounded backlog of unwritten items and the storage health's backoff."""

from __future__ import annotations

import pytest

from controller.storage.backlog import DEGRADED, OK, Backlog, Backoff, StorageHealth


def test_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    backoff = Backoff(first_s=0.25, max_s=2.0)
    assert [backoff.delay(n) for n in range(0, 7)] == [0.0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert backoff.delay(10_000) == 2.0  # no overflow after a long spell


def test_a_failed_write_goes_back_first_in_line() -> None:
    backlog: Backlog[int] = Backlog(ceiling=10)
    for item in (1, 2, 3):
        backlog.add(item)
    batch = backlog.take()
    assert batch == [1, 2, 3] and len(backlog) == 0
    backlog.add(4)  # arrived while the write was failing
    assert backlog.put_back(batch) == 0
    assert backlog.take() == [1, 2, 3, 4]
    assert backlog.dropped == 0


def test_the_ceiling_drops_the_oldest_and_counts_them() -> None:
    backlog: Backlog[int] = Backlog(ceiling=3)
    for item in range(5):
        backlog.add(item)
    assert backlog.take() == [2, 3, 4] and backlog.dropped == 2
    backlog.add(5)
    backlog.add(6)
    assert backlog.put_back([2, 3, 4]) == 2
    assert backlog.take() == [4, 5, 6] and backlog.dropped == 4


def test_a_backlog_needs_room() -> None:
    with pytest.raises(ValueError):
        Backlog[int](ceiling=0)


def test_health_is_degraded_from_the_first_failure_until_a_success() -> None:
    health = StorageHealth(Backoff(first_s=1.0, max_s=4.0))
    assert health.state == OK and health.retry_in(100.0) == 0.0
    assert health.failed("database is locked", now=100.0) is True  # the first: log it
    assert health.failed("database is locked", now=101.0) is False  # the same spell
    assert health.state == DEGRADED and health.failing_since == 100.0
    assert health.retry_in(101.0) == 2.0  # the second failure waits twice the first
    assert health.last_error == "database is locked"
    assert health.succeeded(now=107.5) == 7.5  # how long it had been failing
    assert health.state == OK and health.failing_since == 0.0 and health.retry_in(107.5) == 0.0
    assert health.succeeded(now=108.0) is None  # nothing to recover from
    assert health.last_error == "database is locked"  # what happened last stays readable
