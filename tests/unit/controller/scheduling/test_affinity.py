"""controller/scheduling/affinity.py: conversation keys and the key -> worker table with its TTL."""

from __future__ import annotations

import pytest

from controller.scheduling.affinity import DEFAULT_TTL_S, AffinityTable, conversation_key

SYSTEM = "You are a helpful assistant."
FIRST = "Write a haiku about queues."


# -- conversation_key --------------------------------------------------------------------------


def test_every_turn_of_a_conversation_derives_the_same_key() -> None:
    """Later turns add messages; the system prompt and first user message stay the same."""
    turn1 = conversation_key("", "client-a", SYSTEM, FIRST)
    turn2 = conversation_key("", "client-a", SYSTEM, FIRST)
    assert turn1 == turn2
    assert turn1.startswith("conv:")
    assert len(turn1) == len("conv:") + 32


def test_key_is_stable_across_calls_and_processes() -> None:
    # A digest of the inputs, not Python's randomised hash(): the same in every process.
    assert conversation_key("", "s", "sys", "hi") == conversation_key("", "s", "sys", "hi")
    assert conversation_key("", "", "", "") == conversation_key("", "", "", "")


@pytest.mark.parametrize(
    ("source", "system", "first_user"),
    [
        ("client-b", SYSTEM, FIRST),
        ("client-a", SYSTEM + " ", FIRST),
        ("client-a", SYSTEM, FIRST + "!"),
        ("client-a", "", FIRST),
        ("client-a", SYSTEM, ""),
    ],
)
def test_any_change_of_source_or_opening_gives_another_key(
    source: str, system: str, first_user: str
) -> None:
    assert conversation_key("", source, system, first_user) != conversation_key(
        "", "client-a", SYSTEM, FIRST
    )


def test_fields_do_not_run_together() -> None:
    """Moving text between the system prompt and the first message changes the key."""
    assert conversation_key("", "s", "ab", "c") != conversation_key("", "s", "a", "bc")
    assert conversation_key("", "sa", "b", "c") != conversation_key("", "s", "ab", "c")


@pytest.mark.parametrize("session", ["", "sess-1"])
def test_keys_scope_their_conversations(session: str) -> None:
    """Two keys sending the same history never share a conversation (nor a live process); the
    bootstrap token ("") keeps the keys of before keys existed."""
    alice = conversation_key(session, "ide", SYSTEM, FIRST, "key_00000000000a")
    bob = conversation_key(session, "ide", SYSTEM, FIRST, "key_00000000000b")
    assert alice != bob
    assert alice == conversation_key(session, "ide", SYSTEM, FIRST, "key_00000000000a")
    assert alice.startswith("sid:" if session else "conv:") and "key_" not in alice
    assert conversation_key(session, "ide", SYSTEM, FIRST, "") == conversation_key(
        session, "ide", SYSTEM, FIRST
    )
    assert len({alice, bob, conversation_key(session, "ide", SYSTEM, FIRST)}) == 3


def test_session_id_wins_over_the_opening() -> None:
    key = conversation_key("sess-1", "client-a", SYSTEM, FIRST)
    assert key.startswith("sid:")
    assert "sess-1" not in key  # a digest: client-chosen ids never become log-visible keys
    assert conversation_key("sess-1", "client-b", SYSTEM, FIRST) != key  # scoped by source
    assert conversation_key("sess-1", "client-a", "other system", "other first") == key
    assert conversation_key("sess-2", "client-a", SYSTEM, FIRST) != key
    assert key != conversation_key("", "client-a", SYSTEM, FIRST)


def test_a_session_id_cannot_collide_with_a_derived_key() -> None:
    derived = conversation_key("", "s", "sys", "hi")
    assert conversation_key(derived, "s", "sys", "hi") != derived


def test_key_contains_no_raw_input() -> None:
    key = conversation_key("", "client-secret-ish", "SYSTEM-TEXT", "USER-TEXT")
    for raw in ("client-secret-ish", "SYSTEM-TEXT", "USER-TEXT"):
        assert raw not in key


# -- AffinityTable -----------------------------------------------------------------------------


def test_default_ttl_is_thirty_minutes() -> None:
    assert DEFAULT_TTL_S == 1800
    assert AffinityTable().ttl_s == 1800


def test_unknown_key_has_no_worker() -> None:
    table = AffinityTable(ttl_s=10)
    assert table.lookup("k", 0.0) is None
    assert table.active(0.0) == 0


def test_record_then_lookup() -> None:
    table = AffinityTable(ttl_s=10)
    table.record("k", "1", 100.0, None)
    assert table.lookup("k", 100.0) == "1"
    assert table.lookup("k", 105.0) == "1"
    assert table.lookup("other", 105.0) is None


def test_ttl_boundary_is_inclusive_and_expiry_forgets_the_key() -> None:
    table = AffinityTable(ttl_s=10)
    table.record("k", "1", 100.0, None)
    assert table.lookup("k", 110.0) == "1"  # exactly ttl since last use: still bound
    assert table.active(110.0) == 1
    assert table.lookup("k", 110.001) is None
    # The expired binding is gone, even when asked about an earlier time again.
    assert table.lookup("k", 100.0) is None
    assert table.active(100.0) == 0


def test_ttl_counts_from_last_use_not_first_use() -> None:
    table = AffinityTable(ttl_s=10)
    table.record("k", "1", 0.0, None)
    table.record("k", "1", 8.0, "1")
    assert table.lookup("k", 17.0) == "1"
    assert table.lookup("k", 18.0) == "1"
    assert table.lookup("k", 18.5) is None


def test_lookup_alone_does_not_extend_the_binding() -> None:
    table = AffinityTable(ttl_s=10)
    table.record("k", "1", 0.0, None)
    assert table.lookup("k", 9.0) == "1"
    assert table.lookup("k", 10.5) is None


def test_record_counts_misses_hits_and_moves() -> None:
    table = AffinityTable(ttl_s=60)
    table.record("a", "1", 0.0, None)
    table.record("b", "2", 0.0, None)
    assert (table.stats.hits, table.stats.misses, table.stats.moves) == (0, 2, 0)
    table.record("a", "1", 1.0, table.lookup("a", 1.0))
    assert (table.stats.hits, table.stats.misses, table.stats.moves) == (1, 2, 0)
    table.record("a", "2", 2.0, table.lookup("a", 2.0))
    assert (table.stats.hits, table.stats.misses, table.stats.moves) == (1, 2, 1)
    assert table.lookup("a", 3.0) == "2"  # the conversation now lives on its new worker
    table.record("a", "2", 3.0, "2")
    assert (table.stats.hits, table.stats.misses, table.stats.moves) == (2, 2, 1)


def test_expired_conversation_counts_as_a_miss_not_a_move() -> None:
    table = AffinityTable(ttl_s=10)
    table.record("k", "1", 0.0, None)
    preferred = table.lookup("k", 50.0)
    assert preferred is None
    table.record("k", "2", 50.0, preferred)
    assert (table.stats.hits, table.stats.misses, table.stats.moves) == (0, 2, 0)


def test_sweep_forgets_only_expired_keys() -> None:
    table = AffinityTable(ttl_s=10)
    table.record("old", "1", 0.0, None)
    table.record("edge", "1", 5.0, None)
    table.record("new", "2", 12.0, None)
    assert table.sweep(15.0) == 1  # old: 15 s; edge: exactly 10 s, kept
    assert table.active(15.0) == 2
    assert table.lookup("old", 15.0) is None
    assert table.lookup("edge", 15.0) == "1"
    assert table.sweep(15.0) == 0
    assert table.sweep(100.0) == 2
    assert table.active(100.0) == 0
    assert table.sweep(100.0) == 0


def test_active_counts_live_keys_without_forgetting_them() -> None:
    table = AffinityTable(ttl_s=10)
    for n in range(5):
        table.record(f"k{n}", "1", float(n), None)
    assert table.active(4.0) == 5
    assert table.active(12.0) == 3  # k0 (12 s) and k1 (11 s) are past the ttl
    assert table.active(14.0) == 1
    assert table.active(4.0) == 5  # active() alone removes nothing


def test_custom_ttl_is_used() -> None:
    table = AffinityTable(ttl_s=0.5)
    table.record("k", "1", 0.0, None)
    assert table.lookup("k", 0.5) == "1"
    assert table.lookup("k", 0.51) is None


def test_a_conversation_keeps_the_time_it_opened_while_bound() -> None:
    """Its first turn's wall-clock time, through hits and a move, so a CLI rebuilt for it on
    any worker is told the date its live process was told."""
    table = AffinityTable(ttl_s=10)
    assert table.record("k", "1", 0.0, None, wall=1_000.0) == 1_000.0
    assert table.record("k", "1", 5.0, table.lookup("k", 5.0), wall=1_005.0) == 1_000.0
    assert table.record("k", "2", 9.0, table.lookup("k", 9.0), wall=1_009.0) == 1_000.0  # moved
    assert table.lookup("k", 30.0) is None  # expired: the next turn opens it anew
    assert table.record("k", "2", 30.0, None, wall=1_030.0) == 1_030.0
