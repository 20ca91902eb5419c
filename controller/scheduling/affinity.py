"""Pure session affinity: a conversation key maps to the worker that served it, with a TTL, and
to when it opened (the workerd tells a rebuilt CLI that day's date, as the live process was)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEFAULT_TTL_S = 30 * 60


def conversation_key(
    session_id: str, source: str, system: str, first_user: str, key_id: str = ""
) -> str:
    """`X-Session-Id` when given, else a digest of the source and the conversation's opening.

    The system prompt and the first user message are the same on every turn of a conversation,
    so every turn derives the same key; a secret never takes part (the source is not a key, and
    `key_id` is a key's public id). Scoped by the key: two keys sending the same history never
    share a conversation, so never a worker's live process (the bootstrap token's "" adds
    nothing: its keys are those of before keys existed).
    """
    owner = (key_id,) if key_id else ()
    if session_id:  # scoped by source: two clients' "default" sessions are not one conversation
        return "sid:" + _digest(*owner, source, session_id)
    return "conv:" + _digest(*owner, source, system, first_user)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


@dataclass
class _Binding:
    worker: str
    last_used: float
    opened_at: float  # wall-clock time of the first turn the table saw


@dataclass
class AffinityStats:
    hits: int = 0
    misses: int = 0
    moves: int = 0


class AffinityTable:
    """key -> worker for `ttl_s` since last use; the caller passes `now`."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self.stats = AffinityStats()
        self._bindings: dict[str, _Binding] = {}

    def lookup(self, key: str, now: float) -> str | None:
        """The worker this conversation belongs to, or None (unknown or expired)."""
        binding = self._bindings.get(key)
        if binding is None:
            return None
        if now - binding.last_used > self.ttl_s:
            del self._bindings[key]
            return None
        return binding.worker

    def record(
        self, key: str, worker: str, now: float, preferred: str | None, wall: float = 0.0
    ) -> float:
        """The request with `key` runs on `worker` (`wall`: the time of day); `preferred` is
        what lookup returned. Returns when the conversation opened: its first turn's `wall`,
        kept while the binding lives (a move to another worker included)."""
        if preferred is None:
            self.stats.misses += 1
        elif preferred == worker:
            self.stats.hits += 1
        else:
            self.stats.moves += 1
        earlier = self._bindings.get(key) if preferred is not None else None
        opened_at = earlier.opened_at if earlier is not None else wall
        self._bindings[key] = _Binding(worker, now, opened_at)
        return opened_at

    def sweep(self, now: float) -> int:
        """Forget expired keys; returns how many."""
        expired = [k for k, b in self._bindings.items() if now - b.last_used > self.ttl_s]
        for key in expired:
            del self._bindings[key]
        return len(expired)

    def active(self, now: float) -> int:
        return sum(1 for b in self._bindings.values() if now - b.last_used <= self.ttl_s)
