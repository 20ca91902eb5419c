"""The key ring: a secret is found by its hash, and a revoked, expired or unknown one is not."""

from __future__ import annotations

import hashlib

from frontdoor.auth.identity import Identity
from frontdoor.auth.keyring import KeyRing
from protos import keys_pb2

ALICE = "sk-ccp-" + "A" * 43
BOB = "sk-ccp-" + "B" * 43


def info(key_id: str, name: str, secret: str, **fields: object) -> keys_pb2.KeyInfo:
    policy = fields.pop("policy", keys_pb2.KeyPolicy())
    return keys_pb2.KeyInfo(
        id=key_id,
        name=name,
        role=str(fields.pop("role", "client")),
        secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
        policy=policy,  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def ring_of(*keys: keys_pb2.KeyInfo, version: int = 1) -> KeyRing:
    ring = KeyRing()
    ring.replace(keys_pb2.KeyList(keys=keys, version=version))
    return ring


def test_a_new_ring_is_not_loaded_and_finds_nothing() -> None:
    ring = KeyRing()
    assert not ring.loaded and len(ring) == 0
    assert ring.find(ALICE.encode(), 0.0) is None


def test_a_secret_finds_its_key_and_only_its_key() -> None:
    ring = ring_of(info("key_a", "alice", ALICE), info("key_b", "bob", BOB, role="admin"))
    assert ring.loaded and ring.version == 1 and len(ring) == 2
    assert ring.find(ALICE.encode(), 0.0) == Identity("key_a", "alice", "client")
    assert ring.find(BOB.encode(), 0.0) == Identity("key_b", "bob", "admin")
    assert ring.find(ALICE[:-1].encode(), 0.0) is None
    assert ring.find((ALICE + "x").encode(), 0.0) is None


def test_a_revoked_key_is_left_out() -> None:
    ring = ring_of(info("key_a", "alice", ALICE, revoked_at=5.0), info("key_b", "bob", BOB))
    assert ring.find(ALICE.encode(), 0.0) is None
    assert len(ring) == 1


def test_an_expired_key_is_refused_from_its_expiry_on() -> None:
    policy = keys_pb2.KeyPolicy(expires_at=1000.0)
    ring = ring_of(info("key_a", "alice", ALICE, policy=policy))
    assert ring.find(ALICE.encode(), 999.9) is not None
    assert ring.find(ALICE.encode(), 1000.0) is None


def test_a_new_list_replaces_the_old_one_whole() -> None:
    ring = ring_of(info("key_a", "alice", ALICE))
    ring.replace(keys_pb2.KeyList(keys=[info("key_b", "bob", BOB)], version=2))
    assert ring.version == 2
    assert ring.find(ALICE.encode(), 0.0) is None  # gone from the list: gone from the ring
    assert ring.find(BOB.encode(), 0.0) == Identity("key_b", "bob", "client")


def test_keys_the_frontdoor_cannot_read_are_left_out() -> None:
    bad_hash = info("key_a", "alice", ALICE)
    bad_hash.secret_sha256 = "not-hex"
    short_hash = info("key_b", "bob", BOB)
    short_hash.secret_sha256 = "ab" * 16
    odd_role = info("key_c", "carol", "sk-ccp-" + "C" * 43, role="root")
    ring = ring_of(bad_hash, short_hash, odd_role)
    assert len(ring) == 0
    assert ring.find(ALICE.encode(), 0.0) is None


def test_ten_thousand_keys_are_found_by_one_lookup() -> None:
    secrets = [f"sk-ccp-{n:043d}" for n in range(10_000)]
    ring = ring_of(*(info(f"key_{n}", f"k{n}", s) for n, s in enumerate(secrets)))
    assert len(ring) == 10_000
    assert ring.find(secrets[7777].encode(), 0.0) == Identity("key_7777", "k7777", "client")
