"""The quota book in the accounting database: windows saved as reported, loaded at start-up.

Writes go through `Accounting.query` (its one database thread), batched: a report only marks
its windows pending and wakes the writer, so the request path never waits on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

from controller.quota.windows import WindowState
from controller.storage.accounting import Accounting, AccountingDb

logger = logging.getLogger(__name__)


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
        while True:
            await self._wake.wait()
            await self.flush()

    async def flush(self) -> None:
        self._wake.clear()
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        rows = [(worker, state) for (worker, _), state in batch.items()]
        with contextlib.suppress(sqlite3.Error):
            await self.accounting.query(lambda db: _save(db, rows))


def _save(db: AccountingDb, rows: list[tuple[str, WindowState]]) -> None:
    conn = db.connection
    conn.execute("BEGIN IMMEDIATE")
    try:
        save(conn, rows)
    except BaseException:
        conn.execute("ROLLBACK")
        logger.exception("could not save %d quota windows", len(rows))
        raise
    conn.execute("COMMIT")
