"""controller/storage/keys.py and migration 6 on a real SQLite database: keys, usage days,
key ids on request rows, owners of stored responses, and an older database upgraded."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from controller.keys.periods import day_of
from controller.keys.record import KeyRecord
from controller.storage import keys as key_rows
from controller.storage import request_rows, response_store
from controller.storage.migrations import LATEST, migrate
from controller.storage.usage import RequestRow
from protos import controller_pb2, keys_pb2

NOW = 1_741_791_600.0  # 2025-03-12T15:00:00Z


@pytest.fixture
def conn() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    migrate(connection)
    return connection


def record(name: str = "ci", key_id: str = "key_000000000001", **policy: object) -> KeyRecord:
    return KeyRecord(
        key_id,
        name,
        "client",
        False,
        keys_pb2.KeyPolicy(**policy),  # type: ignore[arg-type]
        key_id.ljust(64, "a"),
        "sk-ccp-abcd",
        NOW,
    )


def row(key_id: str, ts: float = NOW, mode: str = "api", status: str = "ok") -> RequestRow:
    return RequestRow(
        request_id=f"r{ts}",
        ts=ts,
        source="ide",
        model="sonnet",
        worker="1",
        mode=mode,
        status=status,
        error_category="",
        input_tokens=1_000_000,
        output_tokens=10,
        cache_read_tokens=20,
        cache_write_tokens=30,
        ttft_ms=5,
        duration_ms=9,
        retries=0,
        key_id=key_id,
    )


def test_a_key_reads_back_as_it_was_kept(conn: sqlite3.Connection) -> None:
    kept = record(rpm=60, models=["sonnet"], pools=["api"], monthly_cost_usd=12.5)
    key_rows.insert(conn, kept)
    (loaded,), last_used = key_rows.load(conn)
    assert (loaded.id, loaded.name, loaded.role, loaded.for_owner) == (
        kept.id,
        "ci",
        "client",
        False,
    )
    assert loaded.policy == kept.policy and loaded.secret_sha256 == kept.secret_sha256
    assert loaded.modes == {"api"} and last_used == {}
    stored = conn.execute("SELECT * FROM keys").fetchone()
    assert "sk-ccp-" not in "".join(str(v) for v in stored if v != kept.prefix)  # no secret


def test_names_are_unique_among_keys_not_revoked(conn: sqlite3.Connection) -> None:
    key_rows.insert(conn, record())
    with pytest.raises(key_rows.NameTaken):
        key_rows.insert(conn, record(key_id="key_000000000002"))
    key_rows.save(conn, dataclasses.replace(record(), revoked_at=NOW + 1))
    key_rows.insert(conn, record(key_id="key_000000000002"))  # the name is free again
    records, _ = key_rows.load(conn)
    assert [(r.name, r.revoked) for r in records] == [("ci", True), ("ci", False)]
    with pytest.raises(key_rows.NameTaken):
        key_rows.save(conn, dataclasses.replace(record(), revoked_at=0.0))


def test_a_change_is_saved(conn: sqlite3.Connection) -> None:
    key_rows.insert(conn, record(rpm=1))
    key_rows.save(conn, dataclasses.replace(record(tpm=9), name="ci-2", role="admin"))
    (loaded,), _ = key_rows.load(conn)
    assert (loaded.name, loaded.role, loaded.policy) == ("ci-2", "admin", keys_pb2.KeyPolicy(tpm=9))


def test_usage_adds_up_per_key_and_day_with_the_request_rows(conn: sqlite3.Connection) -> None:
    key_rows.insert(conn, record())
    rows = [
        row("key_000000000001"),
        row("key_000000000001", NOW + 60, mode="cli", status="TIMEOUT"),
        row("key_000000000001", NOW - 86_400),
        row(""),
    ]
    request_rows.write(conn, rows)
    key_rows.write_usage(conn, rows)
    days = key_rows.load_usage(conn, day_of(NOW) - 1)
    assert [(k, d - day_of(NOW), c.requests, c.errors) for k, d, c in days] == [
        ("key_000000000001", -1, 1, 0),
        ("key_000000000001", 0, 2, 1),
    ]
    today = days[1][2]
    assert today.input_tokens == 2_000_000 and today.cache_write_tokens == 60
    assert today.cost_usd == pytest.approx(3.0 + 10 * 15e-6 + 20 * 0.3e-6 + 30 * 3.75e-6)
    assert key_rows.load_usage(conn, day_of(NOW) + 1) == []
    _, last_used = key_rows.load(conn)
    assert last_used == {"key_000000000001": NOW + 60}
    keyed = conn.execute("SELECT key_id, COUNT(*) FROM requests GROUP BY key_id").fetchall()
    assert sorted(keyed) == [("", 1), ("key_000000000001", 3)]


def test_a_stored_response_is_found_by_its_owner_only(conn: sqlite3.Connection) -> None:
    stored = controller_pb2.StoredResponse(id="resp_1", owner="key_a", body_json="{}")
    response_store.put(conn, stored, NOW)
    found = response_store.get(conn, "resp_1", False, owner="key_a")
    assert found is not None and found.owner == "key_a"
    assert response_store.get(conn, "resp_1", False, owner="key_b") is None
    assert response_store.get(conn, "resp_1", True, owner="") is None  # nor the bootstrap token


def test_a_database_of_the_previous_schema_is_upgraded_with_its_rows_kept(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(tmp_path / "v5.db", isolation_level=None)
    assert migrate(conn, upto=LATEST - 1) == LATEST - 1
    conn.execute(
        "INSERT INTO requests (request_id, ts, source, model, worker, mode, status, "
        "error_category, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
        "ttft_ms, duration_ms, retries) VALUES ('old', ?, 'ide', 'sonnet', '1', 'cli', 'ok', "
        "'', 1, 2, 3, 4, 5, 6, 0)",
        (NOW,),
    )
    conn.execute(
        "INSERT INTO responses VALUES ('resp_old', '', ?, ?, 'ide', x'', '{}')", (NOW, NOW)
    )
    assert migrate(conn) == LATEST
    assert conn.execute("SELECT request_id, key_id FROM requests").fetchall() == [("old", "")]
    old = response_store.get(conn, "resp_old", False)  # the bootstrap token's, as before
    assert old is not None and old.body_json == "{}"
    assert key_rows.load(conn) == ([], {})
