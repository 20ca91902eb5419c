"""The Admin service's key methods: CreateKey, ListKeys, UpdateKey, RevokeKey, WatchKeys and
GetKeyUsage (protos/keys.proto), and each key's figures for GetStats.

Thin: the checks are controller/keys/policy.py's, the keys live in the scheduler's KeyBook
(controller/keys/book.py), the rows in controller/storage/keys.py (on the accounting database's
thread). A change is written, then put in the book (effective on the next request), then
announced: an event, and one next list for every WatchKeys stream however many changes came
while it was sending.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeAlias

import grpc

from common.rpc import abort
from controller.events import kinds
from controller.events.bus import EventBus
from controller.keys import ids, policy
from controller.keys.book import KeyBook
from controller.keys.periods import day_name, day_of
from controller.keys.record import KeyRecord
from controller.keys.usage import KEPT_DAYS
from controller.storage import keys as key_rows
from controller.storage.accounting import Accounting
from protos import controller_pb2, keys_pb2

logger = logging.getLogger(__name__)
Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpc ships no type hints
WATCH_INTERVAL_S = 0.05
"""Lists follow one another at least this far apart: a burst of changes (10,000 keys made in a
row) sends a list now and then the newest, never one per change."""
REPORT_DAYS = 31


class KeyService:
    """The key RPCs over the book and the database; changes one at a time."""

    def __init__(
        self,
        book: KeyBook,
        accounting: Accounting,
        events: EventBus,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.book = book
        self._accounting = accounting
        self._events = events
        self._wall = wall
        self._changing = asyncio.Lock()  # a change reads the key, writes it, then puts it

    async def load(self) -> None:
        """The keys and their recent days, from the database (at start)."""
        first_day = day_of(self._wall()) - KEPT_DAYS
        records, last_used = await self._accounting.query(lambda db: key_rows.load(db.connection))
        days = await self._accounting.apart(
            lambda db: key_rows.load_usage(db.connection, first_day)
        )
        self.book.load(records, last_used)
        for key_id, day, counts in days:
            self.book.usage.add(key_id, day, counts)
        logger.info("keys loaded: %d (%d not revoked)", len(records), len(self.book))

    # -- what a key looks like ---------------------------------------------------------------

    def info(self, record: KeyRecord) -> keys_pb2.KeyInfo:
        """As ListKeys shows it: no hash, its usage today, this week and this month (a key
        never used is the book's own copy, to be copied, never changed)."""
        listed = self.book.listed(record)
        last_used = self.book.last_used.get(record.id, 0.0)
        usage = self.book.period_usage(record.id, self._wall())
        if not (usage or last_used):
            return listed
        info = keys_pb2.KeyInfo()
        info.CopyFrom(listed)
        info.last_used_at = last_used
        if usage:
            info.today.CopyFrom(usage["day"])
            info.this_week.CopyFrom(usage["week"])
            info.this_month.CopyFrom(usage["month"])
        return info

    async def _find(self, ref: keys_pb2.KeyRef, context: Context) -> KeyRecord:
        if not ref.id and not ref.name:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "name a key by name or id")
        record = self.book.find(key_id=ref.id, name=ref.name)
        if record is None:
            which = f"with id {ref.id[:40]!r}" if ref.id else f"named {ref.name[:80]!r}"
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no key {which}")
        return record

    # -- changes -----------------------------------------------------------------------------

    async def create(
        self, request: keys_pb2.CreateKeyRequest, context: Context
    ) -> keys_pb2.CreateKeyResult:
        now = self._wall()
        for_owner = not request.for_another_person
        try:
            name = policy.check_name(request.name)
            role = policy.check_role(request.role)
            checked = policy.checked_policy(request.policy, for_owner, now)
        except policy.InvalidKey as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        secret = ids.new_secret()
        record = KeyRecord(
            ids.new_key_id(),
            name,
            role,
            for_owner,
            checked,
            ids.secret_sha256(secret),
            ids.prefix_of(secret),
            now,
        )
        async with self._changing:
            await self._taken(name, context)
            await self._store(key_rows.insert, record, context)
            self.book.put(record)
        self._events.emit(
            kinds.KeyCreated(key_id=record.id, name=name, role=role, for_owner=for_owner)
        )
        logger.info("key %s (%s) created, role %s", record.id, name, role)
        return keys_pb2.CreateKeyResult(key=self.info(record), secret=secret)

    async def _taken(self, name: str, context: Context) -> None:
        if self.book.find(name=name) is not None:
            await abort(context, grpc.StatusCode.ALREADY_EXISTS, _name_taken(name))

    async def _store(
        self, write: Callable[[Any, KeyRecord], None], record: KeyRecord, context: Context
    ) -> None:
        try:
            await self._accounting.apart(lambda db: write(db.connection, record))
        except key_rows.NameTaken:  # the database's own check (the book's came first)
            await abort(context, grpc.StatusCode.ALREADY_EXISTS, _name_taken(record.name))

    async def update(
        self, request: keys_pb2.UpdateKeyRequest, context: Context
    ) -> keys_pb2.KeyInfo:
        async with self._changing:
            record = await self._find(request.key, context)
            if record.revoked:
                await abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"the key {record.name!r} is revoked: make a new one",
                )
            try:
                changed = _updated(record, request, self._wall())
            except policy.InvalidKey as exc:
                await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            what = _differences(record, changed)
            if not what:
                return self.info(record)
            if changed.name != record.name:
                await self._taken(changed.name, context)
            await self._store(key_rows.save, changed, context)
            self.book.put(changed)
        self._events.emit(
            kinds.KeyUpdated(key_id=changed.id, name=changed.name, changed=",".join(what))
        )
        logger.info("key %s (%s) changed: %s", changed.id, changed.name, ", ".join(what))
        return self.info(changed)

    async def revoke(self, ref: keys_pb2.KeyRef, context: Context) -> keys_pb2.KeyInfo:
        async with self._changing:
            record = await self._find(ref, context)
            if record.revoked:
                return self.info(record)  # already: nothing changes
            revoked = dataclasses.replace(record, revoked_at=self._wall())
            await self._store(key_rows.save, revoked, context)
            self.book.put(revoked)
        self._events.emit(kinds.KeyRevoked(key_id=revoked.id, name=revoked.name))
        logger.info("key %s (%s) revoked", revoked.id, revoked.name)
        return self.info(revoked)

    # -- reading -----------------------------------------------------------------------------

    def list_keys(self, request: keys_pb2.ListKeysRequest) -> keys_pb2.KeyList:
        records = self.book.records(include_revoked=request.include_revoked)
        return keys_pb2.KeyList(keys=[self.info(r) for r in records], version=self.book.version)

    async def watch(self) -> AsyncGenerator[keys_pb2.KeyList, None]:
        """The usable keys with their hashes now, then after changes: one list for however
        many changes came since the last one was sent."""
        sent, sent_at = -1, 0.0
        while True:
            await self.book.changed_since(sent)
            settle = sent_at + WATCH_INTERVAL_S - time.monotonic()
            if settle > 0:
                await asyncio.sleep(settle)  # let a burst of changes finish
            key_list = self.book.watch_list()
            sent, sent_at = key_list.version, time.monotonic()
            yield key_list

    async def usage(self, ref: keys_pb2.KeyRef, context: Context) -> keys_pb2.KeyUsageReport:
        record = await self._find(ref, context)
        first = day_of(self._wall()) - (REPORT_DAYS - 1)
        return keys_pb2.KeyUsageReport(
            key=self.info(record),
            budgets=self.book.budgets(record),
            limits=self.book.limits(record) or keys_pb2.KeyLimits(),
            days=[
                keys_pb2.KeyUsageDay(day=day_name(day), usage=counts.to_pb())
                for day, counts in self.book.usage.days(record.id, first)
            ],
        )

    def stats(self, queued: dict[str, int]) -> list[controller_pb2.KeyStats]:
        """The keys in use (traffic this month, requests running or waiting) for GetStats;
        `queued`: waiting requests by key."""
        book = self.book
        now = self._wall()
        found = []
        for record in book.in_use(now, queued):
            usage = book.period_usage(record.id, now)
            found.append(
                controller_pb2.KeyStats(
                    id=record.id,
                    name=record.name,
                    role=record.role,
                    today=usage.get("day"),
                    this_week=usage.get("week"),
                    this_month=usage.get("month"),
                    budgets=book.budgets(record),
                    limits=book.limits(record),
                    running=book.running(record.id),
                    queued=queued.get(record.id, 0),
                    last_used_at=book.last_used.get(record.id, 0.0),
                    weight=record.weight,
                )
            )
        return found


def _name_taken(name: str) -> str:
    return f"a key named {name!r} exists: choose another name, or revoke that key first"


def _updated(record: KeyRecord, request: keys_pb2.UpdateKeyRequest, now: float) -> KeyRecord:
    """The key as the request changes it; raises policy.InvalidKey."""
    merged = policy.merged_policy(record.policy, request.policy, request.clear)
    new_expiry = request.policy.HasField("expires_at")
    checked = policy.checked_policy(merged, record.for_owner, now, new_expiry=new_expiry)
    return dataclasses.replace(
        record,
        name=policy.check_name(request.new_name) if request.new_name else record.name,
        role=policy.check_role(request.role) if request.role else record.role,
        policy=checked,
    )


def _differences(before: KeyRecord, after: KeyRecord) -> list[str]:
    """What changed: policy fields by name, then role and name."""
    what = [
        name for name in policy.FIELDS if _field(before.policy, name) != _field(after.policy, name)
    ]
    what += [attr for attr in ("role", "name") if getattr(before, attr) != getattr(after, attr)]
    return what


def _field(message: keys_pb2.KeyPolicy, name: str) -> object:
    if name in ("models", "pools"):
        return list(getattr(message, name))
    return getattr(message, name) if message.HasField(name) else None
