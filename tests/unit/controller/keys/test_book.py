"""controller/keys/book.py: the keys in memory, admission from them, usage, and watching."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from controller.events.bus import EventBus
from controller.events.kinds import Completed, Failed, RequestEnd
from controller.keys.admission import KeyRefused
from controller.keys.book import KeyBook
from controller.keys.record import KeyRecord
from protos import common_pb2 as pb
from protos import keys_pb2

NOW = 1_741_791_600.0  # 2025-03-12T15:00:00Z


class Clocks:
    def __init__(self) -> None:
        self.wall = NOW
        self.mono = 1000.0


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def book(clocks: Clocks) -> KeyBook:
    return KeyBook(wall=lambda: clocks.wall, clock=lambda: clocks.mono)


def record(name: str = "ci", key_id: str = "key_000000000001", **policy: object) -> KeyRecord:
    return KeyRecord(
        key_id,
        name,
        "client",
        True,
        keys_pb2.KeyPolicy(**policy),  # type: ignore[arg-type]
        key_id.ljust(64, "0"),
        "sk-ccp-abcd",
        NOW - 100,
    )


def limits_of(book: KeyBook, key_id: str = "key_000000000001") -> keys_pb2.KeyLimits:
    key = book.get(key_id)
    assert key is not None
    limits = book.limits(key)
    assert limits is not None
    return limits


def end(key_id: str, status: str = "ok", tokens: int = 100, mode: str = "cli") -> RequestEnd:
    kind = Completed if status == "ok" else Failed
    return kind(
        request_id="r",
        source="ide",
        model="sonnet",
        worker="1",
        mode=mode,
        status=status,
        error_category="",
        input_tokens=tokens,
        output_tokens=0,
        cache_read_tokens=0,
        cache_write_tokens=0,
        ttft_ms=None,
        duration_ms=1,
        retries=0,
        key_id=key_id,
    )


def test_lookups_by_id_and_by_the_name_of_a_key_not_revoked(book: KeyBook) -> None:
    ci = record()
    book.put(ci)
    assert book.get(ci.id) is ci and book.find(name="ci") is ci and book.find(key_id=ci.id) is ci
    renamed = dataclasses.replace(ci, name="ci-2")
    book.put(renamed)
    assert book.find(name="ci") is None and book.find(name="ci-2") is renamed
    revoked = dataclasses.replace(renamed, revoked_at=NOW)
    book.put(revoked)
    assert book.find(name="ci-2") is None and book.find(key_id=ci.id) is revoked
    assert len(book) == 0 and book.records(include_revoked=True) == [revoked]


def test_admission_reads_the_newest_policy(book: KeyBook) -> None:
    book.put(record(models=["haiku"]))
    with pytest.raises(KeyRefused, match="may not use sonnet models"):
        book.admit("key_000000000001", "claude-sonnet-5", 10, {"cli"}, "r1")
    book.put(record(models=["haiku", "sonnet"]))
    admitted = book.admit("key_000000000001", "claude-sonnet-5", 10, {"cli"}, "r2")
    assert admitted.name == "ci" and book.last_used["key_000000000001"] == NOW
    with pytest.raises(KeyRefused, match="unknown key"):
        book.admit("key_nobody", "sonnet", 10, {"cli"}, "r3")


def test_a_refused_request_is_not_counted_in_the_minute(book: KeyBook, clocks: Clocks) -> None:
    book.put(record(rpm=1, models=["haiku"]))
    with pytest.raises(KeyRefused):
        book.admit("key_000000000001", "sonnet", 10, {"cli"}, "r1")  # a family it may not use
    book.admit("key_000000000001", "haiku", 10, {"cli"}, "r2")
    limits = limits_of(book)
    assert (limits.limit_requests, limits.remaining_requests) == (1, 0)
    with pytest.raises(KeyRefused) as caught:
        book.admit("key_000000000001", "haiku", 10, {"cli"}, "r3")
    assert caught.value.code == pb.RATE_LIMITED and caught.value.limits is not None
    clocks.mono += 60
    book.admit("key_000000000001", "haiku", 10, {"cli"}, "r4")


def test_a_changed_rate_limit_applies_to_the_window_in_use(book: KeyBook) -> None:
    book.put(record(rpm=1))
    book.admit("key_000000000001", "sonnet", 10, {"cli"}, "r1")
    book.put(record(rpm=5))
    book.admit("key_000000000001", "sonnet", 10, {"cli"}, "r2")
    assert limits_of(book).remaining_requests == 3


def test_finished_requests_add_to_usage_and_budgets_see_it(book: KeyBook, clocks: Clocks) -> None:
    clocks.wall = time.time()  # a request counts on the day of its event (as its row does)
    bus = EventBus()
    bus.sinks.append(book.observe)
    book.put(record(daily_tokens=150))
    bus.emit(end("key_000000000001", tokens=100))
    bus.emit(end("key_000000000001", status="UPSTREAM_ERROR", tokens=0))
    bus.emit(end("", tokens=10_000))  # the bootstrap token's: no key's usage
    usage = book.period_usage("key_000000000001", clocks.wall)
    assert (usage["day"].requests, usage["day"].errors, usage["day"].input_tokens) == (2, 1, 100)
    book.admit("key_000000000001", "sonnet", 10, {"cli"}, "r1")  # 100 of 150: runs
    bus.emit(end("key_000000000001", tokens=60))
    with pytest.raises(KeyRefused, match="spent its daily token budget") as caught:
        book.admit("key_000000000001", "sonnet", 10, {"cli"}, "r2")
    assert caught.value.code == pb.QUOTA_EXHAUSTED


def test_the_concurrency_cap_follows_running_requests(book: KeyBook) -> None:
    book.put(record(max_concurrent=2))
    assert not book.at_cap("key_000000000001")
    book.started("key_000000000001")
    book.started("key_000000000001")
    assert book.at_cap("key_000000000001") and book.running("key_000000000001") == 2
    book.ended("key_000000000001")
    assert not book.at_cap("key_000000000001")
    book.started("")  # the bootstrap token is never counted or capped
    assert not book.at_cap("") and book.running("") == 0
    book.put(record())  # the cap cleared: never at it
    book.started("key_000000000001")
    assert not book.at_cap("key_000000000001")


def test_the_watch_list_has_hashes_of_usable_keys_only(book: KeyBook) -> None:
    first = book.watch_list()
    assert (list(first.keys), first.version) == ([], 0)
    book.put(record())
    book.put(record("other", "key_000000000002"))
    listed = book.watch_list()
    assert [k.name for k in listed.keys] == ["ci", "other"] and listed.version == 2
    assert listed.keys[0].secret_sha256 == "key_000000000001".ljust(64, "0")
    book.put(dataclasses.replace(record(), revoked_at=NOW))
    assert [k.name for k in book.watch_list().keys] == ["other"]
    assert book.watch_list().version == 3


async def test_a_watcher_wakes_once_for_many_changes(book: KeyBook) -> None:
    seen = book.version
    woke = asyncio.create_task(book.changed_since(seen))
    await asyncio.sleep(0)
    assert not woke.done()
    for n in range(100):
        book.put(record(f"k{n}", f"key_{n:012d}"))
    await asyncio.wait_for(woke, 1.0)
    assert book.version == seen + 100
    assert len(book.watch_list().keys) == 100
    await asyncio.wait_for(book.changed_since(seen), 0.1)  # already past: returns at once
