"""Pure fair queue: parties served in weighted round-robin, their sources round-robin inside.

A party is a key (every request made with it, whatever X-Source it sends) or, for the bootstrap
token (no key), each source on its own, as before keys existed. Inside a party, its sources
(X-Source values) take turns and each source is FIFO by priority; so a client inventing sources
only shares its key's turns among them.

Round-robin: `select` looks at the parties with waiting entries, least recently served first
(a party that was never served, or not since it last emptied and came back, before one served
after it), and serves the first that has an entry the caller accepts. A party's turn counts
even when its queue empties, so a party just served never goes again before another party with
eligible work, however the set of parties changes. Weights (deficit round-robin): a turn gives a
party `weight` credit and each entry served costs one, so weight 2 is served twice per turn and
weight 0.5 every other turn; weight 1 is the plain round-robin.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar

T = TypeVar("T")

PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_LOW = 0, 1, 2
REMEMBERED_SOURCES = 10_000
_sequence = itertools.count()
Party: TypeAlias = tuple[str, str]
"""(key id, "") for a key; ("", source) for each source of the bootstrap token."""


class QueueFull(Exception):
    """No room: `scope` is "total" or "source" (a party: a key, or a bootstrap source)."""

    def __init__(self, scope: str, message: str) -> None:
        super().__init__(message)
        self.scope = scope


@dataclass(eq=False)
class QueueEntry(Generic[T]):
    """One waiting request; `item` is whatever the caller needs back."""

    source: str
    item: T
    enqueued_at: float
    deadline: float
    priority: int = PRIORITY_NORMAL
    seq: int = field(default_factory=lambda: next(_sequence))
    key: str = ""  # the key's id; "" for the bootstrap token
    weight: float = 1.0  # the key's fair-queue weight

    @property
    def order(self) -> tuple[int, int]:
        return (self.priority, self.seq)

    @property
    def party(self) -> Party:
        return (self.key, "") if self.key else ("", self.source)


def _order(entry: QueueEntry[T]) -> tuple[int, int]:
    return entry.order


class _Party(Generic[T]):
    """One party's waiting entries by source, and its sources' turns."""

    __slots__ = ("credit", "since", "size", "sources", "turns", "weight")

    def __init__(self) -> None:
        self.sources: dict[str, list[QueueEntry[T]]] = {}
        self.since: dict[str, int] = {}  # ties between never-served sources: arrival
        self.turns: dict[str, int] = {}  # each source's last turn, while the party waits
        self.size = 0
        self.weight = 1.0
        self.credit = 0.0

    def first(self, eligible: Callable[[QueueEntry[T]], bool]) -> QueueEntry[T] | None:
        """The entry to serve: its sources least recently served first, each by priority."""
        if len(self.sources) == 1:  # the usual case: one source (every bootstrap party)
            return next((e for e in next(iter(self.sources.values())) if eligible(e)), None)
        for source in sorted(self.sources, key=lambda s: (self.turns.get(s, -1), self.since[s])):
            entry = next((e for e in self.sources[source] if eligible(e)), None)
            if entry is not None:
                return entry
        return None

    def served(self, source: str, turn: int) -> None:
        self.turns.pop(source, None)
        self.turns[source] = turn
        if len(self.turns) > 2 * len(self.sources) + 64:  # forget sources gone quiet
            self.turns = {s: t for s, t in self.turns.items() if s in self.sources}


class FairQueue(Generic[T]):
    """Bounded waiting room; no clock of its own, the caller passes `now`."""

    def __init__(self, max_total: int, max_per_source: int) -> None:
        self.max_total = max_total
        self.max_per_source = max_per_source  # per party: a key, or a bootstrap source
        self._parties: dict[Party, _Party[T]] = {}
        self._last_turn: dict[Party, int] = {}
        self._active_since: dict[Party, int] = {}  # ties between never-served parties: arrival
        # Waiting parties by turn order, so a turn looks at the next party instead of sorting
        # them all; an entry whose party has emptied or been served since is skipped.
        self._round: list[tuple[tuple[int, int], Party]] = []
        self._turns = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, entry: QueueEntry[T]) -> None:
        self.check_room(entry.party)
        self.add(entry)

    def check_room(self, party: Party, extra: int = 0) -> None:
        """Raise QueueFull unless one more entry of `party` fits (`extra` already counted)."""
        if self._size - extra >= self.max_total:
            raise QueueFull("total", f"the queue is full ({self.max_total} waiting)")
        waiting = self._parties.get(party)
        if (waiting.size if waiting else 0) - extra >= self.max_per_source:
            whose = "this key's queue" if party[0] else "source queue"
            raise QueueFull("source", f"{whose} is full ({self.max_per_source} waiting)")

    def add(self, entry: QueueEntry[T]) -> None:
        """Add without the caps: for a request that may still start at once."""
        party_id = entry.party
        party = self._parties.get(party_id)
        if party is None:
            party = self._parties[party_id] = _Party()
            self._active_since[party_id] = entry.seq
            self._join_round(party_id)
        party.weight = entry.weight  # the key's newest policy
        waiting = party.sources.get(entry.source)
        if waiting is None:
            waiting = party.sources[entry.source] = []
            party.since[entry.source] = entry.seq
        if waiting and entry.order < waiting[-1].order:
            bisect.insort(waiting, entry, key=_order)  # ahead of lower priorities (a retry)
        else:
            waiting.append(entry)  # the usual case: no sort of the whole source per arrival
        party.size += 1
        self._size += 1

    def remove(self, entry: QueueEntry[T]) -> bool:
        """Take an entry out (served elsewhere, cancelled or timed out); False if absent."""
        party_id = entry.party
        party = self._parties.get(party_id)
        waiting = party.sources.get(entry.source) if party is not None else None
        if not waiting or party is None:
            return False
        try:
            waiting.remove(entry)  # by identity, in C: no Python call per waiting entry
        except ValueError:
            return False
        self._size -= 1
        party.size -= 1
        if not waiting:
            del party.sources[entry.source]
            del party.since[entry.source]
        if not party.size:
            del self._parties[party_id]
            del self._active_since[party_id]
        return True

    def select(
        self,
        eligible: Callable[[QueueEntry[T]], bool],
        key_blocked: Callable[[str], bool] | None = None,
    ) -> QueueEntry[T] | None:
        """Remove and return the next entry in fair order that `eligible` accepts; a key that
        `key_blocked` names (at its own concurrency cap) is passed over, keeping its place."""
        if len(self._round) > 2 * len(self._parties) + 64:
            self._round = [(self._turn_order(p), p) for p in self._parties]  # drop the stale
            heapq.heapify(self._round)
        passed: list[tuple[tuple[int, int], Party]] = []  # looked at, nothing eligible: keep place
        try:
            while self._round:
                turn, party_id = heapq.heappop(self._round)
                if party_id not in self._parties or turn != self._turn_order(party_id):
                    continue  # emptied, served or back anew since this was queued
                party = self._parties[party_id]
                blocked = key_blocked is not None and party_id[0] and key_blocked(party_id[0])
                entry = None if blocked else party.first(eligible)
                if entry is None:
                    passed.append((turn, party_id))
                    continue
                if party.credit < 1:
                    party.credit += party.weight  # a new turn
                    if party.credit < 1:  # a weight below 1: this turn only saves up
                        self._end_turn(party_id)
                        continue
                self._serve(party_id, party, entry)
                return entry
            return None
        finally:
            for item in passed:
                heapq.heappush(self._round, item)

    def _serve(self, party_id: Party, party: _Party[T], entry: QueueEntry[T]) -> None:
        self.remove(entry)
        party.credit -= 1
        turn = next(self._turns)
        party.served(entry.source, turn)
        if party_id not in self._parties:
            self._last_turn.pop(party_id, None)  # re-insert: the dict stays in turn order
            self._last_turn[party_id] = turn
        elif party.credit >= 1:
            self._join_round(party_id)  # its turn goes on: weight left, work waiting
        else:
            self._end_turn(party_id)
        self._forget_idle_parties()

    def _end_turn(self, party_id: Party) -> None:
        """Behind every party served before (a party still waiting goes back in the round)."""
        self._last_turn.pop(party_id, None)  # re-insert: the dict stays in turn order
        self._last_turn[party_id] = next(self._turns)
        if party_id in self._parties:
            self._join_round(party_id)

    def _join_round(self, party_id: Party) -> None:
        heapq.heappush(self._round, (self._turn_order(party_id), party_id))

    def _turn_order(self, party_id: Party) -> tuple[int, int]:
        return (self._last_turn.get(party_id, -1), self._active_since[party_id])

    def _forget_idle_parties(self) -> None:
        """Bound the memory of turns: the longest-idle parties are forgotten first.

        A forgotten party that comes back counts as new; it has been idle for at least
        REMEMBERED_SOURCES turns of others, so its place in the round barely matters.
        """
        excess = len(self._last_turn) - REMEMBERED_SOURCES
        if excess <= 0:
            return  # the usual case: no copy of every remembered party per turn
        for party_id in list(self._last_turn):
            if excess <= 0:
                break
            if party_id not in self._parties:
                del self._last_turn[party_id]
                excess -= 1

    def expired(self, now: float) -> list[QueueEntry[T]]:
        """Remove and return entries whose deadline has passed."""
        late = [entry for entry in self if entry.deadline <= now]
        for entry in late:
            self.remove(entry)
        return late

    def next_deadline(self) -> float | None:
        return min((entry.deadline for entry in self), default=None)

    def __iter__(self) -> Iterator[QueueEntry[T]]:
        for party in list(self._parties.values()):
            for waiting in list(party.sources.values()):
                yield from list(waiting)

    def depth_by_source(self) -> dict[str, int]:
        """Waiting entries by source (a key's X-Source values, a bootstrap source)."""
        depth: dict[str, int] = {}
        for party in self._parties.values():
            for source, waiting in party.sources.items():
                depth[source] = depth.get(source, 0) + len(waiting)
        return depth

    def depth_by_key(self) -> dict[str, int]:
        """Waiting entries by key id (keyed requests only)."""
        return {party[0]: p.size for party, p in self._parties.items() if party[0]}
