"""What a storage failure means: a write to retry, or a database nobody can use (one line).

A write that fails (locked past the busy timeout, disk full, I/O error) is retried
(backlog.py); a database that cannot even be opened stops the controller with one line that
names the file and what to do, and exit status EXIT_STORAGE_UNUSABLE, which supervisord treats
as expected (no restart loop: supervisor_conf/program.conf.tmpl) and which stops the stack
(controller/__main__.py).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from controller.storage.migrations import SchemaTooNew

STORAGE_ERRORS = (sqlite3.Error, OSError)
EXIT_STORAGE_UNUSABLE = 78  # EX_CONFIG (sysexits.h): an operator must act before a restart
_CORRUPT = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})
_NOT_WRITABLE = frozenset({"SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH"})
_NO_SPACE = frozenset({"SQLITE_FULL"})
_BUSY = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})
_NOT_WRITABLE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR})


class StorageUnusable(Exception):
    """The database cannot be opened; the message is the whole story for an operator.
    `lasting`: a restart cannot mend it (False: another process holds a lock; try again)."""

    def __init__(self, message: str, lasting: bool = True) -> None:
        super().__init__(message)
        self.lasting = lasting


def describe(exc: BaseException) -> str:
    """A failure in a few words, for logs and the storage status."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def unusable(path: Path, exc: BaseException) -> StorageUnusable:
    """The one line for a database that failed to open with `exc`."""
    name = getattr(exc, "sqlite_errorname", "")
    os_errno = exc.errno if isinstance(exc, OSError) else None
    if name in _BUSY:
        held = f"{path} is locked by another process ({exc}); starting again shortly"
        return StorageUnusable(f"storage busy: {held}", lasting=False)
    if isinstance(exc, SchemaTooNew):
        advice = f"{exc}: run the newer proxy, or move the file aside (mv {path} {path}.new)"
    elif name in _CORRUPT:
        advice = (
            f"{path} is not a usable SQLite database ({exc}): move it aside "
            f"(mv {path} {path}.corrupt) and start again; a new, empty one is created"
        )
    elif name in _NO_SPACE or os_errno == errno.ENOSPC:
        advice = f"no space left for {path} ({describe(exc)}): free some and start again"
    elif name in _NOT_WRITABLE or os_errno in _NOT_WRITABLE_ERRNOS:
        advice = (
            f"cannot write {path} ({describe(exc)}): STATE_DIR ({path.parent}) must be a "
            "writable directory of this user"
        )
    else:
        advice = f"cannot open {path} ({describe(exc)})"
    return StorageUnusable(f"storage unusable: {advice}")


def preflight(path: Path) -> None:
    """Before the stack starts (supervisor_conf/launch.py): StorageUnusable if this user cannot
    write the database's directory, or the database is there but is no SQLite database. Only
    reads an existing file: the controller creates and migrates it."""
    probe = path.parent / f".write-probe-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise unusable(path, exc) from None
    if not path.exists():
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise unusable(path, exc) from None
