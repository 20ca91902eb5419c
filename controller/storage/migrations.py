"""The accounting database's schema, as numbered migrations applied in order.

`PRAGMA user_version` holds the version a database is at; `migrate` applies every later step,
each in its own transaction, so an interrupted upgrade leaves a consistent older version and a
re-run does nothing. Never edit a released step: add a new one.
"""

from __future__ import annotations

import sqlite3

from controller.storage.transaction import transaction

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: one row per finished request, and lifetime totals that survive pruning.
    (
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            ts REAL NOT NULL,
            source TEXT NOT NULL,
            model TEXT NOT NULL,
            worker TEXT NOT NULL,
            mode TEXT NOT NULL,
            status TEXT NOT NULL,
            error_category TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            ttft_ms INTEGER,
            duration_ms INTEGER NOT NULL,
            retries INTEGER NOT NULL
        )""",
        "CREATE INDEX requests_by_ts ON requests (ts)",
        """CREATE TABLE totals (
            model TEXT NOT NULL,
            worker TEXT NOT NULL,
            status TEXT NOT NULL,
            error_category TEXT NOT NULL,
            requests INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            last_ts REAL NOT NULL,
            PRIMARY KEY (model, worker, status, error_category)
        )""",
    ),
    # 2: the event log (bounded by the writer) and lifetime counts per type.
    (
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            ts REAL NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE TABLE event_counts (type TEXT PRIMARY KEY, count INTEGER NOT NULL)",
    ),
    # 3: lifetime latency histograms (per-bucket counts, plus count and sum per metric).
    (
        """CREATE TABLE histogram_buckets (
            metric TEXT NOT NULL,
            le TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (metric, le)
        )""",
        """CREATE TABLE histogram_sums (
            metric TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            sum_s REAL NOT NULL
        )""",
    ),
    # 4: the Responses door's stored responses, each linked to the one it continued.
    (
        """CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            previous_id TEXT NOT NULL,
            created REAL NOT NULL,
            used REAL NOT NULL,
            source TEXT NOT NULL,
            turns BLOB NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX responses_by_used ON responses (used)",
    ),
    # 5: each account's usage windows as last reported (utilization NULL: below warning).
    (
        """CREATE TABLE quota_windows (
            worker TEXT NOT NULL,
            window TEXT NOT NULL,
            status TEXT NOT NULL,
            utilization REAL,
            resets_at REAL NOT NULL,
            seen_at REAL NOT NULL,
            threshold REAL NOT NULL,
            PRIMARY KEY (worker, window)
        )""",
    ),
    # 6: keys (hashes only; revoked ones kept so their usage stays readable), each key's usage
    # per UTC day, and the key of each request row and stored response.
    (
        """CREATE TABLE keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            for_owner INTEGER NOT NULL,
            policy TEXT NOT NULL,
            secret_sha256 TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            created_at REAL NOT NULL,
            revoked_at REAL NOT NULL DEFAULT 0,
            last_used_at REAL NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX keys_active_name ON keys (name) WHERE revoked_at = 0",
        """CREATE TABLE key_usage (
            key_id TEXT NOT NULL,
            day TEXT NOT NULL,
            requests INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            cost_usd REAL NOT NULL,
            PRIMARY KEY (key_id, day)
        )""",
        "ALTER TABLE requests ADD COLUMN key_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE responses ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
    ),
)
LATEST = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The database was written by a newer proxy; refusing beats corrupting it."""


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, upto: int = LATEST) -> int:
    """Bring the database to version `upto` (default: the latest); returns the version."""
    version = schema_version(conn)
    if version > LATEST:
        raise SchemaTooNew(f"database schema v{version} is newer than this proxy's v{LATEST}")
    for number in range(version + 1, upto + 1):
        with transaction(conn):
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    return schema_version(conn)
