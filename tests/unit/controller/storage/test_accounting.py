"""Accounting: schema migrations, rows, usage windows, history buckets, retention, event log."""

from __future__ import annotations

import calendar
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from controller.events.bus import EventBus, ProxyEvent
from controller.events.kinds import Chunk, Completed, Failed, RequestArrived
from controller.storage.accounting import Accounting, AccountingDb
from controller.storage.migrations import LATEST, SchemaTooNew, migrate, schema_version
from controller.storage.usage import (
    HISTORY,
    cumulative,
    error_category,
    history_range,
    row_from_event,
    stale_reason,
    week_start,
    window_starts,
)
from protos import controller_pb2

# Wednesday 2025-11-26 12:00:00 UTC
NOW = float(calendar.timegm((2025, 11, 26, 12, 0, 0)))
MONDAY = float(calendar.timegm((2025, 11, 24, 0, 0, 0)))
_ids = iter(range(1, 1_000_000))


def complete(ts: float, **fields: Any) -> ProxyEvent:
    data: dict[str, Any] = {
        "request_id": f"r{ts}",
        "source": "test",
        "model": "sonnet",
        "worker": "1",
        "mode": "cli",
        "status": "ok",
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 2,
        "cache_write_tokens": 1,
        "ttft_ms": 300,
        "duration_ms": 1200,
        "retries": 0,
        **fields,
    }
    kind = "complete" if data["status"] == "ok" else "error"
    return ProxyEvent(next(_ids), kind, ts, data)


@pytest.fixture
def db(tmp_path: Path) -> AccountingDb:
    return AccountingDb(tmp_path / "proxy.db")


# -- migrations ----------------------------------------------------------------------------


def test_migrations_build_an_empty_database_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "fresh.db", isolation_level=None)
    assert schema_version(conn) == 0
    assert migrate(conn) == LATEST
    tables = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    assert {"requests", "totals", "events", "event_counts", "histogram_buckets"} <= {
        name for name, _ in tables
    }
    assert migrate(conn) == LATEST  # idempotent
    assert conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == tables


def test_an_older_database_is_upgraded_with_its_rows_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, upto=1) == 1
    conn.execute("INSERT INTO totals VALUES ('sonnet', '1', 'ok', '', 4, 40, 20, 0, 0, ?)", (NOW,))
    conn.close()
    upgraded = AccountingDb(path)
    assert upgraded.tokens(NOW).totals.requests == 4
    assert upgraded.load_events(10) == ([], {}, 0)  # the event tables exist now


def test_a_database_from_a_newer_proxy_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(SchemaTooNew):
        migrate(conn)


def test_the_database_uses_wal(tmp_path: Path, db: AccountingDb) -> None:
    conn = sqlite3.connect(tmp_path / "proxy.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- rows and categories -------------------------------------------------------------------


def test_error_categories_are_stable_and_lower_case() -> None:
    assert error_category("ok") == ""
    assert error_category("TIMEOUT") == "timeout"
    assert error_category("QUEUE_TIMEOUT") == "queue_timeout"
    assert error_category("NO_WORKER_AVAILABLE") == "no_worker"
    assert error_category("CONTEXT_TOO_LONG") == "context_overflow"
    assert error_category("cancelled") == "cancelled"


def test_a_row_from_an_event_tolerates_missing_fields() -> None:
    row = row_from_event(NOW, Failed.from_json({"status": "WORKER_CRASHED", "ttft_ms": None}))
    assert (row.status, row.error_category, row.ttft_ms, row.input_tokens) == (
        "WORKER_CRASHED",
        "worker_crashed",
        None,
        0,
    )
    assert row_from_event(NOW, Completed.from_json(complete(NOW).data)).prompt_tokens == 13


def test_stale_processes_are_too_old_or_too_quiet() -> None:
    assert stale_reason(10, 1, max_age_ms=5_000, max_idle_ms=5_000) == "age"
    assert stale_reason(1, 10, max_age_ms=5_000, max_idle_ms=5_000) == "idle"
    assert stale_reason(4, 4, max_age_ms=5_000, max_idle_ms=5_000) == ""


# -- totals and windows --------------------------------------------------------------------


def test_the_week_starts_on_monday_at_midnight_utc() -> None:
    assert week_start(NOW) == MONDAY
    assert week_start(MONDAY) == MONDAY
    assert week_start(MONDAY - 1) == MONDAY - 7 * 86_400
    assert window_starts(NOW) == {
        "1h": NOW - 3_600,
        "4h": NOW - 4 * 3_600,
        "8h": NOW - 8 * 3_600,
        "week": MONDAY,
    }


def test_totals_by_model_and_windows(db: AccountingDb) -> None:
    db.write(
        [
            complete(NOW - 600),  # 10 min ago
            complete(NOW - 2 * 3_600, model="opus"),  # 2 h ago
            complete(NOW - 6 * 3_600, status="TIMEOUT", output_tokens=0),  # 6 h ago
            complete(NOW - 30 * 3_600),  # Tuesday: this week, outside 8 h
            complete(MONDAY - 60),  # last week
        ]
    )
    tokens = db.tokens(NOW)
    assert tokens.totals == controller_pb2.TokenFigures(
        input_tokens=65,
        output_tokens=20,
        requests=5,
        errors=1,
        cache_read_tokens=10,
        cache_write_tokens=5,
    )
    assert tokens.by_model["opus"].requests == 1
    assert tokens.by_model["sonnet"].requests == 4
    usage = {w.window: w.figures.requests for w in tokens.windows}
    assert usage == {"1h": 1, "4h": 2, "8h": 3, "week": 4}
    assert [w.since for w in tokens.windows] == list(window_starts(NOW).values())
    assert tokens.windows[2].figures.errors == 1


def test_breakdown_by_worker_and_category(db: AccountingDb) -> None:
    db.write(
        [
            complete(NOW - 5, worker="1"),
            complete(NOW - 4, worker="2", status="TIMEOUT"),
            complete(NOW - 3, worker="2", status="WORKER_CRASHED"),
            complete(NOW - 2, worker="2", status="TIMEOUT"),
        ]
    )
    found = db.breakdown()
    assert dict(found.errors_by_category) == {"timeout": 2, "worker_crashed": 1}
    traffic = {t.worker: t for t in found.workers}
    assert traffic["2"].requests == 3
    assert traffic["2"].errors == 3
    assert dict(traffic["1"].errors_by_category) == {}
    assert traffic["2"].last_request_at == NOW - 2
    assert [e.category for e in found.recent_errors] == [
        "timeout",
        "worker_crashed",
        "timeout",
    ]
    counts = {(c.worker, c.status): c.requests for c in found.request_counts}
    assert counts == {("1", "ok"): 1, ("2", "TIMEOUT"): 2, ("2", "WORKER_CRASHED"): 1}


def test_retention_prunes_rows_but_not_lifetime_totals(db: AccountingDb) -> None:
    db.write([complete(NOW - 40 * 86_400), complete(NOW - 10 * 86_400), complete(NOW - 60)])
    before = db.tokens(NOW).totals
    assert db.prune(NOW, retention_days=30) == 1
    assert db.prune(NOW, retention_days=30) == 0
    assert db.tokens(NOW).totals == before
    assert db.tokens(NOW).windows[0].figures.requests == 1


def test_latency_histograms_are_cumulative(db: AccountingDb) -> None:
    db.write(
        [
            complete(NOW, ttft_ms=50, duration_ms=400),
            complete(NOW, ttft_ms=700, duration_ms=3_000),
            complete(NOW, ttft_ms=None, duration_ms=900_000, status="TIMEOUT"),
        ]
    )
    latency = db.histograms()
    ttft = {b.le_s: b.count for b in latency.ttft.buckets}
    assert (ttft[0.1], ttft[0.5], ttft[1], ttft[math.inf]) == (1, 1, 2, 2)
    assert latency.ttft.count == 2
    assert latency.ttft.sum_s == pytest.approx(0.75)
    duration = {b.le_s: b.count for b in latency.duration.buckets}
    assert (duration[0.5], duration[5], duration[600], duration[math.inf]) == (1, 2, 2, 3)
    assert cumulative("ttft", {})[-1] == (math.inf, 0)


# -- history -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "bucket_s", "count"),
    [("1h", 60, 60), ("6h", 300, 72), ("1d", 900, 96), ("7d", 3600, 168)],
)
def test_history_has_every_bucket_aligned(
    db: AccountingDb, window: str, bucket_s: int, count: int
) -> None:
    spec = HISTORY[window]
    first, end, points = db.history(spec, NOW + 30)
    assert (spec.bucket_s, len(points)) == (bucket_s, count)
    assert first % bucket_s == 0 and end - first == count * bucket_s
    assert first <= NOW + 30 - spec.window_s + bucket_s and end > NOW + 30
    assert [p["ts"] for p in points] == [first + i * bucket_s for i in range(count)]
    assert all(p["requests"] == 0 and p["avgTtftMs"] is None for p in points)


def test_history_sums_requests_into_their_buckets(db: AccountingDb) -> None:
    spec = HISTORY["1h"]
    db.write(
        [
            complete(NOW + 1),
            complete(NOW + 59, status="TIMEOUT", ttft_ms=None, duration_ms=3_000),
            complete(NOW - 61),
            complete(NOW - 2 * 3_600),  # outside the window
        ]
    )
    first, _, points = db.history(spec, NOW + 30)
    by_ts = {p["ts"]: p for p in points}
    current = by_ts[NOW]
    assert (current["requests"], current["errors"], current["input"], current["output"]) == (
        2,
        1,
        26,
        10,
    )
    assert current["total"] == 36
    assert current["avgTtftMs"] == 300 and current["avgDurationMs"] == 2_100
    assert by_ts[NOW - 120]["requests"] == 1
    assert sum(p["requests"] for p in points) == 3
    assert history_range(spec, NOW + 30) == (first, NOW + 60)


# -- event log -----------------------------------------------------------------------------


def test_the_event_log_is_bounded_and_reloads_in_order(tmp_path: Path) -> None:
    db = AccountingDb(tmp_path / "proxy.db", event_log_size=3)
    db.write([ProxyEvent(i, "request" if i % 2 else "queued", NOW + i, {"n": i}) for i in (1, 2)])
    db.write([ProxyEvent(i, "request", NOW + i, {"n": i}) for i in (3, 4, 5)])
    db.write([ProxyEvent(0, "chunk", NOW, {"text": "live only"})])
    events, counts, last_id = db.load_events(100)
    assert [e.id for e in events] == [3, 4, 5]
    assert events[0].data == {"n": 3}
    assert counts == {"request": 4, "queued": 1}
    assert last_id == 5
    assert [e.id for e in db.load_events(2)[0]] == [4, 5]


def test_a_restored_bus_continues_ids_and_counts() -> None:
    bus = EventBus()
    bus.restore([ProxyEvent(7, "request", NOW, {})], {"request": 7}, 7)
    event = bus.emit(RequestArrived.from_json({}))
    assert event.id == 8 and bus.last_id == 8
    assert bus.counts == {"request": 8}
    assert [e.id for e in bus.recent()] == [7, 8]


async def test_live_only_events_reach_only_live_subscribers() -> None:
    bus = EventBus()
    plain, live = bus.subscribe(), bus.subscribe(live=True)
    assert bus.wants_live
    bus.publish_live(Chunk.from_json({"text": "hi"}))
    bus.emit(RequestArrived.from_json({}))
    assert [e.type for e in (live.get_nowait(), live.get_nowait())] == ["chunk", "request"]
    assert plain.get_nowait().type == "request" and plain.empty()
    assert bus.recent() and all(e.type != "chunk" for e in bus.recent())
    bus.unsubscribe(live)
    assert not bus.wants_live


# -- the asyncio face ----------------------------------------------------------------------


async def test_accounting_batches_writes_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "proxy.db"
    accounting = Accounting(path, retention_days=30, flush_delay_s=0.01)
    assert await accounting.open(100) == ([], {}, 0)
    bus = EventBus()
    bus.sinks.append(accounting.observe)
    bus.emit(RequestArrived.from_json({"request_id": "r1"}))
    bus.emit(complete(0).payload)
    totals = await accounting.query(lambda db: db.tokens(NOW).totals)  # sees the pending batch
    assert totals.requests == 1
    bus.emit(complete(0, status="TIMEOUT").payload)
    await accounting.close()

    again = Accounting(path, retention_days=30)
    events, counts, last_id = await again.open(100)
    assert [e.type for e in events] == ["request", "complete", "error"]
    assert counts == {"request": 1, "complete": 1, "error": 1} and last_id == 3
    assert (await again.query(lambda db: db.tokens(NOW).totals)).requests == 2
    await again.close()
