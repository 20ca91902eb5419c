"""Stored responses, in the accounting database (synchronous: run on its database thread).

A row holds what one response added to its conversation (its new input turns and its answer,
as neutral protobuf) and links to the response it continued, so a conversation is the chain of
rows walked back from its newest: storing a long conversation costs what each turn adds, not
the whole history again. Storing a response marks its whole chain as used; pruning drops rows
unused for RETENTION_DAYS, so a conversation continued within the retention keeps all its turns.
A row belongs to the key that made it (`owner`, its id): another key finds nothing there, as for
an id that never existed.
"""

from __future__ import annotations

import sqlite3

from controller.keys.periods import DAY_S
from controller.storage.transaction import transaction
from protos import controller_pb2

MAX_CHAIN = 100_000  # a guard against a cycle; ids are the door's own, so none is expected
_CHAIN = """WITH RECURSIVE chain(id, previous_id, turns, depth) AS (
    SELECT id, previous_id, turns, 0 FROM responses WHERE id = ?
    UNION ALL
    SELECT r.id, r.previous_id, r.turns, c.depth + 1
    FROM responses r JOIN chain c ON r.id = c.previous_id
    WHERE c.previous_id != '' AND c.depth < ?
)"""


def put(conn: sqlite3.Connection, stored: controller_pb2.StoredResponse, now: float) -> None:
    """Store one response and mark its conversation used at `now`, in one transaction."""
    turns = controller_pb2.StoredResponse(turns=stored.turns).SerializeToString()
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO responses "
            "(id, previous_id, created, used, source, turns, body, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stored.id,
                stored.previous_id,
                stored.created,
                now,
                stored.source,
                turns,
                stored.body_json,
                stored.owner,
            ),
        )
        if stored.previous_id:
            conn.execute(
                f"{_CHAIN} UPDATE responses SET used = ? WHERE id IN (SELECT id FROM chain)",
                (stored.previous_id, MAX_CHAIN, now),
            )


def get(
    conn: sqlite3.Connection, response_id: str, with_history: bool, owner: str = ""
) -> controller_pb2.StoredResponse | None:
    """The stored response `owner` (a key id; "": the bootstrap token) made, with its
    conversation's turns when asked; None when unknown, another key's, or when its
    conversation is no longer whole."""
    row = conn.execute(
        "SELECT previous_id, created, source, turns, body FROM responses WHERE id = ? "
        "AND owner = ?",
        (response_id, owner),
    ).fetchone()
    if row is None:
        return None
    previous_id, created, source, turns, body = row
    stored = controller_pb2.StoredResponse(
        id=response_id,
        owner=owner,
        previous_id=previous_id,
        created=created,
        source=source,
        body_json=body,
    )
    stored.turns.extend(controller_pb2.StoredResponse.FromString(turns).turns)
    if with_history:
        chain = conn.execute(
            f"{_CHAIN} SELECT previous_id, turns FROM chain ORDER BY depth DESC",
            (response_id, MAX_CHAIN),
        ).fetchall()
        if chain[0][0]:  # the oldest row still names a predecessor: a link is gone
            return None
        for _, part in chain:
            stored.history.extend(controller_pb2.StoredResponse.FromString(part).turns)
    return stored


def prune(conn: sqlite3.Connection, now: float, retention_days: int) -> int:
    """Drop responses whose conversation was not continued within the retention."""
    cursor = conn.execute("DELETE FROM responses WHERE used < ?", (now - retention_days * DAY_S,))
    return int(cursor.rowcount)
