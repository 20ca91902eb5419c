"""The persisted event log and the database thread in SQLite (`STATE_DIR/proxy.db`, WAL).

AccountingDb   synchronous sqlite3: one connection, used from one thread only
Accounting     the controller's asyncio face: the EventBus sink appends to a list (nothing else
               on the hot path); a background task writes batches through a single-thread
               executor, which also runs every query, so writes and reads stay in order.

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
from controller.storage.migrations import migrate
from controller.storage.usage import HistorySpec, rows_of
from protos import controller_pb2

logger = logging.getLogger(__name__)
T = TypeVar("T")
FLUSH_DELAY_S = 0.2
PRUNE_INTERVAL_S = 3_600.0
URGENT_EVENTS = frozenset({Started.kind})
URGENT_DELAY_S = 0.02
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
        self._conn.execute("PRAGMA busy_timeout = 5000")
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._write_events(events)
            request_rows.write(conn, rows)
            keys.write_usage(conn, rows)  # each key's day, from the same rows
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

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
    """Batches events into the database off the event loop; answers queries in order."""

    def __init__(
        self,
        path: Path,
        retention_days: int,
        flush_delay_s: float = FLUSH_DELAY_S,
        urgent_delay_s: float = URGENT_DELAY_S,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self.flush_delay_s = flush_delay_s
        self.urgent_delay_s = min(urgent_delay_s, flush_delay_s)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="accounting")
        self._db: AccountingDb | None = None
        self._pending: list[ProxyEvent] = []
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # a pending event must not wait for the batch delay

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self, event_limit: int) -> tuple[list[ProxyEvent], dict[str, int], int]:
        """Open (and migrate) the database; returns the events to restore into the bus."""
        self._db = await self._call(AccountingDb, self.path)
        pruned = await self._call(self._db.prune, time.time(), self.retention_days)
        if pruned:
            logger.info("pruned %d request rows older than %d days", pruned, self.retention_days)
        return await self._call(self._db.load_events, event_limit)

    def observe(self, event: ProxyEvent) -> None:
        """EventBus sink: remember the event for the next batch. A run's start is written
        within URGENT_DELAY_S, not after the batch delay: a controller killed then still leaves
        its row (recovery.interrupted_requests), whatever the worker went on to spend."""
        self._pending.append(event)
        if event.type in URGENT_EVENTS:
            self._hurry.set()
        self._wake.set()

    async def run(self) -> None:
        """Write batches as events arrive; prune old rows every hour. Runs until cancelled."""
        next_prune = time.monotonic() + PRUNE_INTERVAL_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), PRUNE_INTERVAL_S)
            if self._pending:
                await self._gather()
                await self.flush()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_INTERVAL_S
                await self.query(lambda db: db.prune(time.time(), self.retention_days))

    async def _gather(self) -> None:
        """Let a batch gather for the batch delay, cut short by a run's start (which still
        waits `urgent_delay_s` for the starts of the same moment)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hurry.wait(), self.flush_delay_s)
        if self._hurry.is_set():
            await asyncio.sleep(self.urgent_delay_s)

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        self._wake.clear()
        self._hurry.clear()
        if not batch or self._db is None:
            return
        try:
            await self._call(self._db.write, batch)
        except sqlite3.Error:
            logger.exception("could not write %d events to %s", len(batch), self.path)

    async def apart(self, fn: Callable[[AccountingDb], T]) -> T:
        """Run `fn(db)` on the database thread without first writing the pending events: for
        stores whose rows do not depend on the event log (stored responses)."""
        assert self._db is not None
        return await self._call(fn, self._db)

    async def query(self, fn: Callable[[AccountingDb], T]) -> T:
        """Run `fn(db)` on the database thread, after every event observed so far is written."""
        await self.flush()
        assert self._db is not None
        return await self._call(fn, self._db)

    async def close(self) -> None:
        await self.flush()
        if self._db is not None:
            await self._call(self._db.close)
        self._executor.shutdown(wait=True)
