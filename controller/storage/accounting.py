"""The persisted event log and the database thread in SQLite (`STATE_DIR/proxy.db`, WAL).

AccountingDb   synchronous sqlite3: one connection, used from one thread only
Accounting     the controller's asyncio face: the EventBus sink appends to a backlog (nothing
               else on the hot path); a background task writes batches through a single-thread
               executor, which also runs every query, so writes and reads stay in order.

A batch the database does not take (locked past BUSY_TIMEOUT_MS, disk full) is not dropped: it
goes back to the front of the backlog (bounded: backlog.py) and is retried with backoff, while
`storage_status()` says `degraded`. Queries do not wait behind a failing write: in WAL mode
readers need no lock, so they read what is committed; the busy timeout bounds the rest.

Every request ends as one `requests` row (from its `complete` or `error` event) and is added to
`totals` (lifetime, per model/worker/status/category) in the same transaction as its events, so
pruning old rows after RETENTION_DAYS never changes the totals; request_rows.py writes and reads
those rows, keys.py adds the ones made with a key to that key's day.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from controller.events.bus import EVENT_LOG_SIZE, ProxyEvent
from controller.events.kinds import Started
from controller.storage import keys, request_rows, response_store
from controller.storage.backlog import BACKLOG_MAX, Backlog, Backoff, StorageHealth
from controller.storage.faults import STORAGE_ERRORS, describe, unusable
from controller.storage.migrations import SchemaTooNew, migrate
from controller.storage.transaction import transaction
from controller.storage.usage import HistorySpec, rows_of
from protos import controller_pb2

logger = logging.getLogger(__name__)
T = TypeVar("T")
FLUSH_DELAY_S = 0.2
PRUNE_INTERVAL_S = 3_600.0
URGENT_EVENTS = frozenset({Started.kind})
URGENT_DELAY_S = 0.02
BUSY_TIMEOUT_MS = 2_000
"""How long a statement waits for another connection's lock: long enough for anyone's ordinary
transaction; short, because every query waits behind a write on the one database thread."""
WRITE_RETRY = Backoff(first_s=0.25, max_s=2.0)  # a caller waiting for its own write (attempt_for)
"""How long a run's start waits for company before it is written: under load the starts of this
moment share one transaction (one per request cost more CPU than the rest of the controller's
work on it), and a run killed with the controller this soon has cost next to nothing upstream."""


class AccountingDb:
    """The database, synchronously. Not thread-safe: Accounting gives it one thread."""

    def __init__(self, path: Path | str, event_log_size: int = EVENT_LOG_SIZE) -> None:
        self.event_log_size = event_log_size
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        migrate(self._conn)
        if str(path) != ":memory:":
            os.chmod(path, 0o600)

    def close(self) -> None:
        self._conn.close()

    # -- writing ---------------------------------------------------------------------------

    def write(self, events: Sequence[ProxyEvent]) -> None:
        """Persist a batch of events and the request rows of those that end a request."""
        rows = rows_of(events)
        conn = self._conn
        with transaction(conn):
            self._write_events(events)
            request_rows.write(conn, rows)
            keys.write_usage(conn, rows)  # each key's day, from the same rows

    def _write_events(self, events: Sequence[ProxyEvent]) -> None:
        logged = [e for e in events if e.id > 0]
        if not logged:
            return
        self._conn.executemany(
            "INSERT OR REPLACE INTO events (id, type, ts, data) VALUES (?, ?, ?, ?)",
            [(e.id, e.type, e.ts, json.dumps(e.data)) for e in logged],
        )
        counts: dict[str, int] = {}
        for event in logged:
            counts[event.type] = counts.get(event.type, 0) + 1
        self._conn.executemany(
            "INSERT INTO event_counts (type, count) VALUES (?, ?) "
            "ON CONFLICT (type) DO UPDATE SET count = count + excluded.count",
            list(counts.items()),
        )
        newest = max(e.id for e in logged)
        self._conn.execute("DELETE FROM events WHERE id <= ?", (newest - self.event_log_size,))

    @property
    def connection(self) -> sqlite3.Connection:
        """For the other stores in this database (response_store); same thread rules."""
        return self._conn

    def prune(self, now: float, retention_days: int) -> int:
        """Delete request rows older than the retention (the totals keep their figures) and
        stored responses unused for as long."""
        pruned = request_rows.prune(self._conn, now, retention_days)
        response_store.prune(self._conn, now, retention_days)
        return pruned

    # -- reading ---------------------------------------------------------------------------

    def load_events(self, limit: int) -> tuple[list[ProxyEvent], dict[str, int], int]:
        """The newest `limit` logged events (oldest first), counts per type, the newest id."""
        found = self._conn.execute(
            "SELECT id, type, ts, data FROM events ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        events = [ProxyEvent(i, kind, ts, json.loads(data)) for i, kind, ts, data in found]
        counts = dict(self._conn.execute("SELECT type, count FROM event_counts").fetchall())
        newest = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        return events[::-1], counts, int(newest)

    def tokens(self, now: float) -> controller_pb2.TokenStats:
        """Lifetime totals, by model, and the usage windows."""
        return request_rows.tokens(self._conn, now)

    def breakdown(self) -> controller_pb2.Traffic:
        """Lifetime traffic and errors by worker and category, and the latest errors."""
        return request_rows.breakdown(self._conn)

    def histograms(self) -> controller_pb2.Latency:
        return request_rows.histograms(self._conn)

    def history(self, spec: HistorySpec, now: float) -> tuple[float, float, list[dict[str, Any]]]:
        """Per-bucket figures over the window, every bucket present, oldest first."""
        return request_rows.history(self._conn, spec, now)


class Accounting:
    """Batches events into the database off the event loop; answers queries in order; keeps
    what it could not write (bounded) and retries it with backoff."""

    def __init__(
        self,
        path: Path,
        retention_days: int,
        flush_delay_s: float = FLUSH_DELAY_S,
        urgent_delay_s: float = URGENT_DELAY_S,
        backlog_max: int = BACKLOG_MAX,
        health: StorageHealth | None = None,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self.flush_delay_s = flush_delay_s
        self.urgent_delay_s = min(urgent_delay_s, flush_delay_s)
        self.health = health or StorageHealth()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="accounting")
        self._db: AccountingDb | None = None
        self._pending: Backlog[ProxyEvent] = Backlog(backlog_max)
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # a pending event must not wait for the batch delay
        self._recovered = asyncio.Event()  # another write went through: retry the backlog now

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self, event_limit: int) -> tuple[list[ProxyEvent], dict[str, int], int]:
        """Open (and migrate) the database; returns the events to restore into the bus.
        Raises StorageUnusable (one line: the file and what to do) when it cannot be opened."""
        try:
            self._db = await self._call(AccountingDb, self.path)
            restored = await self._call(self._db.load_events, event_limit)
        except (*STORAGE_ERRORS, SchemaTooNew) as exc:
            raise unusable(self.path, exc) from None
        await self._prune()
        return restored

    def observe(self, event: ProxyEvent) -> None:
        """EventBus sink: remember the event for the next batch. A run's start is written
        within URGENT_DELAY_S, not after the batch delay: a controller killed then still leaves
        its row (recovery.interrupted_requests), whatever the worker went on to spend."""
        self._pending.add(event)
        if event.type in URGENT_EVENTS:
            self._hurry.set()
        self._wake.set()

    async def run(self) -> None:
        """Write batches as events arrive (retrying failed ones with backoff); prune old rows
        every hour. Runs until cancelled."""
        next_prune = time.monotonic() + PRUNE_INTERVAL_S
        while True:
            await self._wait_for_work(next_prune - time.monotonic())
            if len(self._pending) and self.health.retry_in(time.time()) == 0:
                if not self.health.failing:
                    await self._gather()
                await self.flush()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_INTERVAL_S
                await self._prune()

    async def _wait_for_work(self, until_prune_s: float) -> None:
        """Until events arrive; while storage fails with events pending, until the backoff's
        next attempt (or another write going through)."""
        if self.health.failing and len(self._pending):
            event, timeout = self._recovered, self.health.retry_in(time.time())
        else:
            event, timeout = self._wake, PRUNE_INTERVAL_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, min(timeout, until_prune_s)))
        self._recovered.clear()

    async def _gather(self) -> None:
        """Let a batch gather for the batch delay, cut short by a run's start (which still
        waits `urgent_delay_s` for the starts of the same moment)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hurry.wait(), self.flush_delay_s)
        if self._hurry.is_set():
            await asyncio.sleep(self.urgent_delay_s)

    async def flush(self) -> bool:
        """Write every pending event; False when the database did not take them (they stay
        pending, first in line, and storage is degraded until a write goes through)."""
        self._wake.clear()
        self._hurry.clear()
        if not len(self._pending) or self._db is None:
            return True
        batch = self._pending.take()
        try:
            await self._call(self._db.write, batch)
        except STORAGE_ERRORS as exc:
            dropped = self._pending.put_back(batch)
            self.note_failure(exc, f"{len(batch)} events kept for a retry")
            if dropped:
                logger.error(
                    "storage backlog full (%d): dropped the %d oldest events",
                    self._pending.ceiling,
                    dropped,
                )
            return False
        self.note_success()
        return True

    def note_failure(self, exc: BaseException, kept: str) -> None:
        """A write failed: storage is degraded (logged once per failing spell, not per try)."""
        if self.health.failed(describe(exc), time.time()):
            logger.warning("storage failing: cannot write %s (%s); %s", self.path, exc, kept)

    def note_success(self) -> None:
        failed_for = self.health.succeeded(time.time())
        if failed_for is not None:
            logger.warning("storage recovered after %.1f s", failed_for)
            self._recovered.set()  # the events writer need not wait out its backoff

    def storage_status(self) -> controller_pb2.StorageStatus:
        """For /health, the dashboard and /metrics."""
        health = self.health
        return controller_pb2.StorageStatus(
            state=health.state,
            pending_writes=len(self._pending),
            ceiling=self._pending.ceiling,
            dropped=self._pending.dropped,
            last_error=health.last_error,
            failing_since=health.failing_since,
        )

    async def attempt(self, fn: Callable[[AccountingDb], T]) -> T:
        """Run a write `fn(db)` on the database thread apart from the event log (stored
        responses, quota windows); its failure degrades storage, as the event log's does."""
        assert self._db is not None
        try:
            result = await self._call(fn, self._db)
        except STORAGE_ERRORS as exc:
            self.note_failure(exc, "the caller retries or fails")
            raise
        self.note_success()
        return result

    async def attempt_for(self, fn: Callable[[AccountingDb], T], wait_s: float) -> T:
        """`attempt`, retried with backoff for up to `wait_s` (no attempt starts later): for a
        caller whose answer depends on the write. Raises the last failure."""
        deadline = time.monotonic() + wait_s
        failures = 0
        while True:
            try:
                return await self.attempt(fn)
            except STORAGE_ERRORS:
                failures += 1
                pause = WRITE_RETRY.delay(failures)
                if time.monotonic() + pause >= deadline:
                    raise
            await asyncio.sleep(pause)  # the backoff between attempts, not a synchronisation

    async def apart(self, fn: Callable[[AccountingDb], T]) -> T:
        """Run `fn(db)` on the database thread without first writing the pending events: for
        stores whose rows do not depend on the event log (stored responses)."""
        assert self._db is not None
        return await self._call(fn, self._db)

    async def query(self, fn: Callable[[AccountingDb], T]) -> T:
        """Run `fn(db)` on the database thread, after every event observed so far is written;
        while storage fails, at once (on what is committed): the writer retries on its own."""
        if not self.health.failing:
            await self.flush()
        assert self._db is not None
        return await self._call(fn, self._db)

    async def _prune(self) -> None:
        assert self._db is not None
        try:
            pruned = await self._call(self._db.prune, time.time(), self.retention_days)
        except STORAGE_ERRORS as exc:
            logger.warning("could not prune %s (%s); next try in an hour", self.path, exc)
            return
        if pruned:
            logger.info("pruned %d request rows older than %d days", pruned, self.retention_days)

    async def close(self) -> None:
        if not await self.flush():
            logger.error(
                "storage still failing at stop (%s): %d events were not written",
                self.health.last_error,
                len(self._pending),
            )
        if self._db is not None:
            await self._call(self._db.close)
        self._executor.shutdown(wait=True)
