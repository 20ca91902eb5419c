"""controller/storage/response_store.py on a real SQLite database: chains, history, retention."""

from __future__ import annotations

import sqlite3

import pytest

from controller.keys.periods import DAY_S
from controller.storage import response_store
from controller.storage.migrations import migrate
from protos import common_pb2 as pb
from protos import controller_pb2


@pytest.fixture
def conn() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    migrate(connection)
    return connection


def said(role: pb.Role, text: str) -> pb.ChatMessage:
    return pb.ChatMessage(role=role, content=[pb.ContentBlock(text=text)])


def store(conn: sqlite3.Connection, rid: str, previous: str, now: float, *texts: str) -> None:
    turns = [said(pb.ROLE_USER, texts[0]), said(pb.ROLE_ASSISTANT, texts[1])]
    stored = controller_pb2.StoredResponse(
        id=rid, previous_id=previous, created=now, source="s", turns=turns, body_json='{"id": 1}'
    )
    response_store.put(conn, stored, now)


def history(conn: sqlite3.Connection, rid: str) -> list[str] | None:
    stored = response_store.get(conn, rid, with_history=True)
    return None if stored is None else [m.content[0].text for m in stored.history]


def test_a_chain_reads_back_oldest_first(conn: sqlite3.Connection) -> None:
    store(conn, "r1", "", 1.0, "q1", "a1")
    store(conn, "r2", "r1", 2.0, "q2", "a2")
    store(conn, "r3", "r2", 3.0, "q3", "a3")

    assert history(conn, "r3") == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert history(conn, "r2") == ["q1", "a1", "q2", "a2"]
    only = response_store.get(conn, "r3", with_history=False)
    assert only is not None and not only.history
    assert [m.content[0].text for m in only.turns] == ["q3", "a3"]
    assert (only.previous_id, only.source, only.body_json) == ("r2", "s", '{"id": 1}')


def test_an_unknown_id_is_none(conn: sqlite3.Connection) -> None:
    assert response_store.get(conn, "nope", with_history=True) is None


def test_continuing_keeps_the_whole_chain_past_the_retention(conn: sqlite3.Connection) -> None:
    day = DAY_S
    store(conn, "old", "", 0.0, "q1", "a1")
    store(conn, "other", "", 0.0, "x", "y")
    store(conn, "new", "old", 20 * day, "q2", "a2")  # continued on day 20: "old" used then

    assert response_store.prune(conn, 35 * day, retention_days=30) == 1  # only "other"
    assert history(conn, "new") == ["q1", "a1", "q2", "a2"]
    assert response_store.get(conn, "other", with_history=False) is None
    assert response_store.prune(conn, 51 * day, retention_days=30) == 2
    assert history(conn, "new") is None


def test_a_broken_chain_is_not_half_a_conversation(conn: sqlite3.Connection) -> None:
    store(conn, "r1", "", 1.0, "q1", "a1")
    store(conn, "r2", "r1", 2.0, "q2", "a2")
    conn.execute("DELETE FROM responses WHERE id = 'r1'")

    assert history(conn, "r2") is None
    assert response_store.get(conn, "r2", with_history=False) is not None
