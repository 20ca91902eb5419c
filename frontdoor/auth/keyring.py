"""Pure: the keys the frontdoor accepts, in memory, replaced whole from each WatchKeys list.

A presented secret is hashed (sha256: the secrets are 256 random bits, so a fast hash is the
right one), looked up in a dict by digest, then compared with hmac.compare_digest. The cost of a
lookup does not grow with the number of keys. Revoked keys are left out when a list arrives;
expiry is checked at each lookup against the clock the caller passes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from frontdoor.auth.identity import ADMIN, CLIENT, Identity
from protos import keys_pb2

logger = logging.getLogger(__name__)
SECRET_PREFIX = "sk-ccp-"
"""Every key's secret starts so (and the log masking knows it)."""
ROLES = frozenset({CLIENT, ADMIN})


@dataclass(frozen=True, slots=True)
class RingKey:
    """One usable key: who it is, its secret's digest and when it stops working (0: never)."""

    identity: Identity
    digest: bytes
    expires_at: float


def digest_of(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def ring_key(info: keys_pb2.KeyInfo) -> RingKey | None:
    """The usable part of a KeyInfo; None for a revoked key or one the frontdoor cannot read
    (a hash that is not sha256 hex, a role it does not know)."""
    if info.revoked_at or info.role not in ROLES:
        return None
    try:
        digest = bytes.fromhex(info.secret_sha256)
    except ValueError:
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        logger.warning("key %s has no usable hash; it cannot authenticate", info.id)
        return None
    expires = info.policy.expires_at if info.policy.HasField("expires_at") else 0.0
    return RingKey(Identity(info.id, info.name, info.role), digest, expires)


class KeyRing:
    """The keys by digest; `loaded` once the controller's first list arrived."""

    def __init__(self) -> None:
        self._by_digest: dict[bytes, RingKey] = {}
        self.version = -1
        self.loaded = False

    def __len__(self) -> int:
        return len(self._by_digest)

    def replace(self, key_list: keys_pb2.KeyList) -> None:
        """The whole list, swapped in at once: a request sees the old ring or the new one."""
        keys = (ring_key(info) for info in key_list.keys)
        self._by_digest = {key.digest: key for key in keys if key is not None}
        self.version = key_list.version
        self.loaded = True

    def find(self, secret: bytes, now: float) -> Identity | None:
        """The identity `secret` authenticates at `now`; None when unknown, revoked or expired."""
        digest = digest_of(secret)
        key = self._by_digest.get(digest)
        if key is None or not hmac.compare_digest(key.digest, digest):
            return None
        if key.expires_at and now >= key.expires_at:
            return None
        return key.identity
