"""The quota book in the accounting database: windows saved as reported, loaded at start-up.

Writes go through `Accounting.attempt` (its one database thread), batched: a report only marks
its windows pending and wakes the writer, so the request path never waits on SQLite. A batch the
database refuses stays pending (one entry per worker and window: bounded by itself).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from controller.quota.windows import WindowState
from controller.storage.accounting import Accounting, AccountingDb
from controller.storage.faults import STORAGE_ERRORS
from controller.storage.transaction import transaction


def save(conn: sqlite3.Connection, rows: list[tuple[str, WindowState]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO quota_windows "
        "(worker, window, status, utilization, resets_at, seen_at, threshold) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (worker, w.window, w.status, w.utilization, w.resets_at, w.seen_at, w.threshold)
            for worker, w in rows
        ],
    )


def load(conn: sqlite3.Connection) -> dict[str, list[WindowState]]:
    saved: dict[str, list[WindowState]] = {}
    for worker, window, status, utilization, resets_at, seen_at, threshold in conn.execute(
        "SELECT worker, window, status, utilization, resets_at, seen_at, threshold "
        "FROM quota_windows ORDER BY worker, window"
    ):
        state = WindowState(window, status, utilization, resets_at, seen_at, threshold)
        saved.setdefault(worker, []).append(state)
    return saved


class QuotaStore:
    """Persists what `Scheduler.on_quota` reports; `run` is the writer task."""

    def __init__(self, accounting: Accounting) -> None:
        self.accounting = accounting
        self._pending: dict[tuple[str, str], WindowState] = {}
        self._wake = asyncio.Event()

    async def load(self) -> dict[str, list[WindowState]]:
        return await self.accounting.query(lambda db: load(db.connection))

    def note(self, worker: str, changed: list[WindowState]) -> None:
        for state in changed:
            self._pending[(worker, state.window)] = state
        self._wake.set()

    async def run(self) -> None:
        """Write what was noted; a write the database refuses is retried after the storage
        backoff (or at once when another write goes through first)."""
        while True:
            await self._wake.wait()
            if not await self.flush():
                await asyncio.sleep(self.accounting.health.retry_in(time.time()))

    async def flush(self) -> bool:
        """Save the pending windows; False when the database refused them (they stay pending,
        behind any newer report of the same window)."""
        self._wake.clear()
        if not self._pending:
            return True
        batch, self._pending = self._pending, {}
        rows = [(worker, state) for (worker, _), state in batch.items()]
        try:
            await self.accounting.attempt(lambda db: _save(db, rows))
        except STORAGE_ERRORS:
            self._pending = {**batch, **self._pending}
            self._wake.set()
            return False
        return True


def _save(db: AccountingDb, rows: list[tuple[str, WindowState]]) -> None:
    conn = db.connection
    with transaction(conn):
        save(conn, rows)
