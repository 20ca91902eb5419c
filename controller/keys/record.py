"""Pure: a key as the controller holds it, with what admission reads worked out once.

The policy message is never changed in place: a change makes a new record (`dataclasses.replace`),
so a request admitted under the old policy keeps reading the old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.keys.policy import OTHER_PERSON_POOLS, OWNER_POOLS, modes_of
from protos import keys_pb2


@dataclass(frozen=True, eq=False)
class KeyRecord:
    """One key: who it is, its policy, and its secret's hash (never the secret)."""

    id: str
    name: str
    role: str
    for_owner: bool
    policy: keys_pb2.KeyPolicy
    secret_sha256: str
    prefix: str
    created_at: float
    revoked_at: float = 0.0
    families: frozenset[str] | None = field(init=False)  # None: every family
    modes: frozenset[str] = field(init=False)  # the worker modes its pools reach
    weight: float = field(init=False)
    max_concurrent: int = field(init=False)  # 0: no cap

    def __post_init__(self) -> None:
        policy = self.policy
        pools = policy.pools or (OWNER_POOLS if self.for_owner else OTHER_PERSON_POOLS)
        derived = {
            "families": frozenset(policy.models) if policy.models else None,
            "modes": modes_of(pools),
            "weight": policy.weight if policy.HasField("weight") else 1.0,
            "max_concurrent": policy.max_concurrent if policy.HasField("max_concurrent") else 0,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def revoked(self) -> bool:
        return self.revoked_at > 0

    def expired(self, now: float) -> bool:
        return self.policy.HasField("expires_at") and now >= self.policy.expires_at

    @property
    def rate_limited(self) -> bool:
        return self.policy.HasField("rpm") or self.policy.HasField("tpm")

    def info(self, with_hash: bool = False, last_used_at: float = 0.0) -> keys_pb2.KeyInfo:
        """As the Admin service shows it; the hash only for WatchKeys (the frontdoor)."""
        return keys_pb2.KeyInfo(
            id=self.id,
            name=self.name,
            role=self.role,
            for_owner=self.for_owner,
            policy=self.policy,
            prefix=self.prefix,
            created_at=self.created_at,
            revoked_at=self.revoked_at,
            last_used_at=last_used_at,
            secret_sha256=self.secret_sha256 if with_hash else "",
        )
