"""Every key in memory: by id, the usable ones by name, their usage and per-minute windows.

No I/O: the Admin service (controller/services/keys.py) writes a change to the database, then
`put`s it here, which bumps `version` and wakes the WatchKeys streams. Admission (`admit`) reads
only this book: a dict lookup by id, the key's period totals and its one-minute window, the same
cost with ten keys or ten thousand. Finished requests reach the usage counters through `observe`
(an EventBus sink, like the accounting database).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable

from common.models import model_family
from controller.events.bus import ProxyEvent
from controller.events.kinds import RequestEnd
from controller.keys import admission
from controller.keys.periods import PERIODS, bounds, day_of
from controller.keys.record import KeyRecord
from controller.keys.usage import Counts, UsageBook
from controller.scheduling.ratelimit import RateWindow
from protos import keys_pb2


class KeyBook:
    """The keys, their usage and their windows; `wall` and `clock` are injected for tests."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wall = wall
        self.clock = clock
        self.usage = UsageBook()
        self.version = 0
        self.last_used: dict[str, float] = {}
        self._by_id: dict[str, KeyRecord] = {}
        self._by_name: dict[str, KeyRecord] = {}  # keys not revoked
        self._windows: dict[str, RateWindow] = {}
        self._running: dict[str, int] = {}
        self._watched: dict[str, keys_pb2.KeyInfo] = {}  # WatchKeys' form of each usable key
        self._watch_list: keys_pb2.KeyList | None = None  # None: to be built again
        self._listed: dict[str, keys_pb2.KeyInfo] = {}  # each key as listed, without usage
        self._change = asyncio.Event()

    # -- the keys ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, key_id: str) -> KeyRecord | None:
        return self._by_id.get(key_id)

    def find(self, key_id: str = "", name: str = "") -> KeyRecord | None:
        """By id (revoked keys too), else by name (keys not revoked)."""
        if key_id:
            return self._by_id.get(key_id)
        return self._by_name.get(name)

    def records(self, include_revoked: bool = False) -> list[KeyRecord]:
        """By name, then by creation."""
        chosen = self._by_id.values() if include_revoked else self._by_name.values()
        return sorted(chosen, key=lambda r: (r.name, r.created_at))

    def load(self, records: Iterable[KeyRecord], last_used: dict[str, float]) -> None:
        """The keys as the database kept them (at start)."""
        for record in records:
            self._index(record)
        self.last_used.update(last_used)
        self._changed()

    def put(self, record: KeyRecord) -> None:
        """A new or changed key (already stored): effective for the next request."""
        self._index(record)
        self._changed()

    def _index(self, record: KeyRecord) -> None:
        old = self._by_id.get(record.id)
        if old is not None and self._by_name.get(old.name) is old:
            del self._by_name[old.name]
        self._by_id[record.id] = record
        self._listed.pop(record.id, None)
        was_watched = self._watched.pop(record.id, None) is not None
        if not record.revoked:
            self._by_name[record.name] = record
            info = self._watched[record.id] = record.info(with_hash=True)
            if not was_watched and self._watch_list is not None:
                self._watch_list.keys.append(info)  # a new key (the usual burst): no rebuild
        if was_watched:
            self._watch_list = None  # changed or revoked: built again when next asked
        window = self._windows.get(record.id)
        if window is not None:
            window.limit = admission.rate_window(record).limit

    def listed(self, record: KeyRecord) -> keys_pb2.KeyInfo:
        """The key as listed (no hash, no usage), built once per change of it: read it, copy
        it, never change it."""
        info = self._listed.get(record.id)
        if info is None:
            info = self._listed[record.id] = record.info()
        return info

    # -- WatchKeys ---------------------------------------------------------------------------

    def _changed(self) -> None:
        self.version += 1
        woken, self._change = self._change, asyncio.Event()
        woken.set()

    def watch_list(self) -> keys_pb2.KeyList:
        """Every usable key with its hash (what the frontdoor authenticates with). The same
        message is kept and grown while keys are only added: a caller sends it before the next
        change (gRPC serialises a streamed message as it is yielded), never keeps it."""
        if self._watch_list is None:
            self._watch_list = keys_pb2.KeyList(keys=self._watched.values())
        self._watch_list.version = self.version
        return self._watch_list

    async def changed_since(self, version: int) -> None:
        """Return once the book is past `version` (at once if it already is)."""
        while self.version == version:
            await self._change.wait()

    # -- admission ---------------------------------------------------------------------------

    def admit(
        self, key_id: str, model: str, tokens: int, modes: Collection[str], request_id: str
    ) -> KeyRecord:
        """The key's record if its policy lets this request in now (its tokens counted in its
        minute); raises KeyRefused with the client's answer otherwise."""
        now = self.wall()
        record = self._by_id.get(key_id)
        refusal = admission.access_refusal(record, key_id, model_family(model), now)
        if refusal is not None:
            raise refusal
        assert record is not None  # an unknown key is refused above
        refusal = admission.pool_refusal(record, modes)
        refusal = refusal or admission.budget_refusal(record, self.usage, now)
        if refusal is not None:
            raise refusal
        if record.rate_limited:
            window = self._window(record)
            clock = self.clock()
            refused = admission.rate_refusal(record, window, tokens, clock)
            if refused is not None:
                raise refused
            window.record(request_id, tokens, clock)
        self.last_used[key_id] = now
        return record

    def _window(self, record: KeyRecord) -> RateWindow:
        window = self._windows.get(record.id)
        if window is None:
            window = self._windows[record.id] = admission.rate_window(record)
        return window

    def limits(self, record: KeyRecord) -> keys_pb2.KeyLimits | None:
        """Its per-minute limits as they stand; None for a key without any."""
        if not record.rate_limited:
            return None
        return admission.key_limits(record, self._window(record), self.clock())

    def correct(self, key_id: str, request_id: str, tokens: int) -> None:
        """What the request used replaces its estimate in the key's minute."""
        window = self._windows.get(key_id)
        if window is not None:
            window.correct(request_id, tokens)

    def budgets(self, record: KeyRecord) -> list[keys_pb2.BudgetState]:
        return admission.budget_states(record, self.usage, self.wall())

    # -- running requests (max_concurrent) ---------------------------------------------------

    def at_cap(self, key_id: str) -> bool:
        """The key runs as many requests as its policy allows: its next one waits."""
        record = self._by_id.get(key_id)
        cap = record.max_concurrent if record is not None else 0
        return bool(cap) and self._running.get(key_id, 0) >= cap

    def started(self, key_id: str) -> None:
        if key_id:
            self._running[key_id] = self._running.get(key_id, 0) + 1

    def ended(self, key_id: str) -> None:
        if key_id and (left := self._running.get(key_id, 0) - 1) >= 0:
            self._running[key_id] = left

    def running(self, key_id: str) -> int:
        return self._running.get(key_id, 0)

    # -- usage -------------------------------------------------------------------------------

    def observe(self, event: ProxyEvent) -> None:
        """EventBus sink: a finished request made with a key adds to its day."""
        end = event.payload
        if isinstance(end, RequestEnd) and end.key_id:
            self.usage.add(end.key_id, day_of(event.ts), counts_of(end))

    def period_usage(self, key_id: str, now: float) -> dict[str, keys_pb2.KeyUsage]:
        """Today, this week and this month ("day", "week", "month"); {} for a key never used."""
        if not self.usage.used(key_id):
            return {}
        return {p: self.usage.period(key_id, p, now).to_pb() for p in PERIODS}

    def in_use(self, now: float, queued: Collection[str]) -> list[KeyRecord]:
        """Keys not revoked with traffic this month or requests running or waiting, by name:
        GetStats' keys (of ten thousand keys, the few in use cost something)."""
        busy = self.usage.keys_since(bounds("month", day_of(now))[0])
        busy.update(key_id for key_id, running in self._running.items() if running)
        busy.update(queued)
        found = (self._by_id.get(key_id) for key_id in busy)
        return sorted(
            (r for r in found if r is not None and not r.revoked),
            key=lambda r: (r.name, r.created_at),
        )


def counts_of(end: RequestEnd) -> Counts:
    return Counts.of_request(
        end.status or "internal",
        end.mode,
        end.model,
        end.input_tokens,
        end.output_tokens,
        end.cache_read_tokens,
        end.cache_write_tokens,
    )
