"""faults.py and transaction.py: one line for a database that cannot be opened; a transaction
that SQLite already rolled back (a full database) raises its own error, not ROLLBACK's."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from controller.storage.faults import StorageUnusable, describe, preflight, unusable
from controller.storage.migrations import SchemaTooNew
from controller.storage.transaction import transaction

DB = Path("/srv/state/proxy.db")


def _sqlite_error(kind: type[sqlite3.Error], message: str, name: str) -> sqlite3.Error:
    exc = kind(message)
    exc.sqlite_errorname = name
    return exc


def test_a_corrupt_database_names_the_file_and_says_move_it_aside() -> None:
    line = str(
        unusable(
            DB, _sqlite_error(sqlite3.DatabaseError, "file is not a database", "SQLITE_NOTADB")
        )
    )
    assert "\n" not in line
    assert str(DB) in line and f"mv {DB} {DB}.corrupt" in line


def test_an_unwritable_state_dir_names_the_directory() -> None:
    for exc in (
        _sqlite_error(sqlite3.OperationalError, "unable to open database file", "SQLITE_CANTOPEN"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.EROFS, "Read-only file system"),
    ):
        line = str(unusable(DB, exc))
        assert "STATE_DIR (/srv/state) must be a writable directory" in line, line


def test_no_space_and_a_newer_schema_say_what_to_do() -> None:
    full = unusable(DB, OSError(errno.ENOSPC, "No space left on device"))
    assert "free some" in str(full) and "No space left on device" in str(full)
    newer = unusable(DB, SchemaTooNew("database schema v99 is newer than this proxy's v6"))
    assert "run the newer proxy" in str(newer)
    assert describe(OSError(errno.ENOSPC, "No space left on device")) == "No space left on device"


def test_preflight_refuses_a_file_of_random_bytes(tmp_path: Path) -> None:
    database = tmp_path / "proxy.db"
    preflight(database)  # none yet: the controller creates it
    database.write_bytes(b"\x8f\x02 not sqlite at all " * 512)
    with pytest.raises(StorageUnusable, match="not a usable SQLite database"):
        preflight(database)


def test_preflight_refuses_a_state_dir_that_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where STATE_DIR should be")
    with pytest.raises(StorageUnusable, match="must be a writable directory"):
        preflight(tmp_path / "state" / "proxy.db")


def test_a_full_database_raises_its_own_error_and_leaves_no_transaction(tmp_path: Path) -> None:
    """SQLITE_FULL rolls the transaction back inside SQLite; a ROLLBACK after it would raise
    'cannot rollback - no transaction is active' instead of 'database or disk is full'."""
    conn = sqlite3.connect(tmp_path / "full.db", isolation_level=None)
    conn.execute("CREATE TABLE t (x TEXT)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError, match="full"), transaction(conn):
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 4000,)] * 50)
    assert not conn.in_transaction
    conn.execute("PRAGMA max_page_count = 1000000")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES ('room again')")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1


def test_a_lock_at_start_is_worth_a_restart_and_the_rest_are_not() -> None:
    busy = unusable(
        DB, _sqlite_error(sqlite3.OperationalError, "database is locked", "SQLITE_BUSY")
    )
    assert busy.lasting is False and "locked by another process" in str(busy)
    corrupt = _sqlite_error(sqlite3.DatabaseError, "file is not a database", "SQLITE_NOTADB")
    assert unusable(DB, corrupt).lasting is True
