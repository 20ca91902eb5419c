"""Keys and their usage per UTC day, in the accounting database (SQL; its database thread).

A key row holds the secret's sha256 only and its policy as JSON (the KeyPolicy message's
fields by name). A key change is one statement (no table rewrite: indexed by id, by the hash and
by the name of each key not revoked). The usage rows are written in the event log's transaction
(accounting.py), from the same request rows as the totals, so they never disagree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from google.protobuf import json_format

from controller.keys.periods import day_from_name, day_name, day_of
from controller.keys.record import KeyRecord
from controller.keys.usage import Counts
from controller.storage.usage import RequestRow
from protos import keys_pb2

_KEY_COLUMNS = (
    "id, name, role, for_owner, policy, secret_sha256, prefix, created_at, revoked_at, last_used_at"
)
_USAGE_COLUMNS = (
    "requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, errors, cost_usd"
)


class NameTaken(Exception):
    """Another key that is not revoked has this name (the index refused it)."""


def policy_json(policy: keys_pb2.KeyPolicy) -> str:
    return json_format.MessageToJson(policy, preserving_proto_field_name=True, indent=None)


def policy_of(text: str) -> keys_pb2.KeyPolicy:
    return json_format.Parse(text, keys_pb2.KeyPolicy(), ignore_unknown_fields=True)


def load(conn: sqlite3.Connection) -> tuple[list[KeyRecord], dict[str, float]]:
    """Every key (revoked ones too), and when each was last used."""
    records, last_used = [], {}
    for row in conn.execute(f"SELECT {_KEY_COLUMNS} FROM keys ORDER BY created_at"):
        key_id, name, role, for_owner, policy, sha256, prefix, created, revoked, used = row
        records.append(
            KeyRecord(
                key_id,
                name,
                role,
                bool(for_owner),
                policy_of(policy),
                sha256,
                prefix,
                created,
                revoked,
            )
        )
        if used:
            last_used[key_id] = used
    return records, last_used


def insert(conn: sqlite3.Connection, record: KeyRecord) -> None:
    try:
        conn.execute(
            f"INSERT INTO keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                record.id,
                record.name,
                record.role,
                int(record.for_owner),
                policy_json(record.policy),
                record.secret_sha256,
                record.prefix,
                record.created_at,
                record.revoked_at,
            ),
        )
    except sqlite3.IntegrityError as exc:
        raise NameTaken(record.name) from exc


def save(conn: sqlite3.Connection, record: KeyRecord) -> None:
    """A changed key: its name, role, policy and revocation."""
    try:
        conn.execute(
            "UPDATE keys SET name = ?, role = ?, policy = ?, revoked_at = ? WHERE id = ?",
            (
                record.name,
                record.role,
                policy_json(record.policy),
                record.revoked_at,
                record.id,
            ),
        )
    except sqlite3.IntegrityError as exc:
        raise NameTaken(record.name) from exc


def load_usage(conn: sqlite3.Connection, first_day: int) -> list[tuple[str, int, Counts]]:
    """Every key's days from `first_day` on: (key id, day, counts)."""
    found = conn.execute(
        f"SELECT key_id, day, {_USAGE_COLUMNS} FROM key_usage WHERE day >= ? ORDER BY day",
        (day_name(first_day),),
    )
    return [(key_id, day_from_name(day), Counts(*values)) for key_id, day, *values in found]


def write_usage(conn: sqlite3.Connection, rows: Sequence[RequestRow]) -> None:
    """Add the rows made with a key to its days, and note when it was last used (in the
    caller's transaction)."""
    days: dict[tuple[str, int], Counts] = {}
    last: dict[str, float] = {}
    for row in rows:
        if not row.key_id:
            continue
        counts = Counts.of_request(
            row.status,
            row.mode,
            row.model,
            row.input_tokens,
            row.output_tokens,
            row.cache_read_tokens,
            row.cache_write_tokens,
        )
        days.setdefault((row.key_id, day_of(row.ts)), Counts()).add(counts)
        last[row.key_id] = max(last.get(row.key_id, 0.0), row.ts)
    if not days:
        return
    conn.executemany(
        f"INSERT INTO key_usage (key_id, day, {_USAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key_id, day) DO UPDATE SET requests = requests + excluded.requests, "
        "input_tokens = input_tokens + excluded.input_tokens, "
        "output_tokens = output_tokens + excluded.output_tokens, "
        "cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, "
        "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
        "errors = errors + excluded.errors, cost_usd = cost_usd + excluded.cost_usd",
        [(key_id, day_name(day), *_values(counts)) for (key_id, day), counts in days.items()],
    )
    conn.executemany(
        "UPDATE keys SET last_used_at = max(last_used_at, ?) WHERE id = ?",
        [(ts, key_id) for key_id, ts in last.items()],
    )


def _values(counts: Counts) -> tuple[int | float, ...]:
    return (
        counts.requests,
        counts.input_tokens,
        counts.output_tokens,
        counts.cache_read_tokens,
        counts.cache_write_tokens,
        counts.errors,
        counts.cost_usd,
    )
