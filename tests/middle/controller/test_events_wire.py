"""The event log keeps its wire shape now that its kinds are typed (controller/events/kinds.py).

tests/unit/fixtures/events_wire.json was captured from the untyped controller (`emit("kind",
**data)`) running `drive` below, a scenario that makes every emitter of every kind fire: for each
kind, the data of each of its events, in order, each value tagged with its JSON type. Values that
depend on timing or on the release (VOLATILE) are pinned by their type only. The typed controller
must produce the same: the same keys, value types and values, in the database, in Admin's
`data_json` (which /events and the live feed pass on as they are) and on the live feed. Key order
is not part of the contract (a JSON object); it still follows each kind's fields. Later kinds
and fields were added to the fixture as they came: `key_id` on `request`, `complete` and `error`,
and the key kinds (`key_created`, `key_updated`, `key_revoked`), from `_keys` below.

Rows written by an older controller load back whatever they hold (missing or unknown keys, a kind
that no longer exists): start-up neither fails nor loses them, and recovery still closes a request
a crash cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.events.bus import EventBus, ProxyEvent, Subscription
from controller.events.kinds import (
    KINDS,
    Chunk,
    Completed,
    Failed,
    RequestArrived,
    Started,
    Unrecognised,
    decode,
)
from controller.events.recovery import INTERRUPTED
from controller.server import _health_watcher, announce_start, open_event_log
from controller.services.admin import event_proto
from controller.storage.accounting import AccountingDb
from protos import common_pb2 as pb
from protos import controller_pb2, keys_pb2, worker_pb2
from tests.middle.inprocess import FakeWorker, Rig, controller_config, short_state_dir

pytestmark = pytest.mark.middle

FIXTURE = Path(__file__).parent.parent / "fixtures" / "events_wire.json"
DEADLINE_S = 10.0
SESSION_A, SESSION_B = "conv-a", "conv-b"
VOLATILE = frozenset({"waited_ms", "ttft_ms", "duration_ms", "until", "version"})
KEY_ID = "key_<random>"
"""A key's id, random: pinned as a key id (the bootstrap token's "" as it is)."""
"""Keys whose values depend on timing or on the release: only their type is pinned."""


class GatedWorker(FakeWorker):
    """A fake workerd whose runs wait for `gate` before they answer (a run that holds its slot)."""

    def __init__(self, name: str, mode: str = "cli") -> None:
        super().__init__(name, mode)
        self.gate = asyncio.Event()
        self.gate.set()

    async def Run(self, request: worker_pb2.RunRequest, context: Any) -> AsyncIterator[pb.Event]:
        await self.gate.wait()
        async for event in super().Run(request, context):
            yield event


def answer(text: str) -> list[pb.Event]:
    return [
        pb.Event(activity=pb.Activity(kind="tool", detail="Read README.md")),
        pb.Event(
            session=pb.SessionInfo(
                served="warm", rebuild_reason="edited", pid=4242, bytes_written=120
            )
        ),
        pb.Event(text=pb.TextDelta(text=text)),
        pb.Event(usage=pb.Usage(input_tokens=10, output_tokens=2, cache_read_tokens=3)),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet")),
    ]


def chat(request_id: str, session_key: str, source: str = "ide") -> pb.ChatRequest:
    return pb.ChatRequest(
        request_id=request_id,
        model="sonnet",
        source=source,
        session_key=session_key,
        stream=True,
        user="end-user-7",
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hi " * 40)])],
    )


async def seen(feed: Subscription, kind: str, request_id: str = "") -> None:
    """Wait for the log's next event of `kind` (of `request_id`, when given)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            event = await feed.get()
            if event.type == kind and event.data.get("request_id", "") == request_id:
                return


async def drive(rig: Rig) -> list[ProxyEvent]:
    """Every kind of event, each from the controller code that emits it in production; the log,
    then what went to live watchers only."""
    live = rig.events.subscribe(live=True)  # the dashboard's feed: streamed text is built for it
    feed = rig.events.subscribe()  # what the scenario waits on
    await _requests(rig)
    await _a_wait_and_a_crash(rig, feed)
    await _workers(rig, feed)
    await _keys(rig)
    chunks = []
    while not live.empty():
        if (event := live.get_nowait()).id == 0:
            chunks.append(event)
    return [*rig.events.recent(0, 1000), *chunks]


async def _requests(rig: Rig) -> None:
    one, two = rig.workers["1"], rig.workers["2"]
    one.script, two.script = answer("one"), answer("two")
    context: Any = None  # the Admin calls here never abort
    # request, routed, started, activity, session, chunk, complete
    await rig.complete(chat("r1", SESSION_A))
    # worker_drain; moved (its worker drains); worker_resume
    await rig.admin.DrainWorker(controller_pb2.WorkerRef(name="1"), context)
    await rig.complete(chat("r2", SESSION_A))
    await rig.admin.ResumeWorker(controller_pb2.WorkerRef(name="1"), context)
    # quota, cooldown_start, retry, then moved (retried after a failure) and complete on "2"
    window = pb.QuotaWindow(
        window="five_hour", status="allowed_warning", utilization=0.9, utilization_known=True
    )
    one.script = [
        pb.Event(rate_limit=pb.RateLimitStatus(status="allowed_warning", windows=[window])),
        pb.Event(error=pb.Error(code=pb.UPSTREAM_OVERLOADED, message="busy", retry_after_ms=200)),
    ]
    await rig.complete(chat("r3", SESSION_B))
    # error: a failure that is not retried
    two.script = [pb.Event(error=pb.Error(code=pb.INVALID_REQUEST, message="no"))]
    await rig.complete(chat("r4", "conv-c"))
    two.script = answer("two")


async def _a_wait_and_a_crash(rig: Rig, feed: Subscription) -> None:
    # queued: r5 holds the only slot (max_concurrent 1) while its worker waits at the gate
    two = rig.workers["2"]
    assert isinstance(two, GatedWorker)
    two.gate.clear()
    holder = asyncio.create_task(rig.complete(chat("r5", "conv-d")))
    await seen(feed, "started", "r5")
    waiter = asyncio.create_task(rig.complete(chat("r6", "conv-e", source="batch")))
    await seen(feed, "queued", "r6")
    # startup, and an `error` for each request a crash would cut off now (r5 and r6)
    announce_start(rig.events, rig.events.recent(0, 1000), time.time())
    two.gate.set()
    await asyncio.gather(holder, waiter)


async def _workers(rig: Rig, feed: Subscription) -> None:
    one, two = rig.workers["1"], rig.workers["2"]
    # cooldown_end ("1" rests a second after its refusal)
    ticks = asyncio.create_task(rig.scheduler.run_ticks())
    await seen(feed, "cooldown_end")
    ticks.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticks
    # warm_fallback and reap, from a workerd's Status
    one.status.warm_fallbacks.append("sig-1")
    one.status.recent_reaps.add(
        id=1, pid=777, request_id="r1", model="sonnet", reason="idle", age_s=12.34, idle_s=5.67
    )
    await rig.poll()
    # kill (asked through Admin; the fake workerd says it was not its child)
    two.processes = [
        worker_pb2.ProcessInfo(pid=4243, state="running", request_id="r9", model="sonnet")
    ]
    await rig.admin.KillProcess(controller_pb2.KillProcessAdminRequest(pid=4243), None)
    # worker_state: "2" stops answering its health checks
    on_change = _health_watcher(rig.scheduler)
    await rig.servers[1].stop(0)
    await rig.poll()
    await on_change()


async def _keys(rig: Rig) -> None:
    context: Any = None  # these Admin calls never abort
    # key_created, key_updated; a request its policy refuses (request and error with its id)
    made = await rig.admin.CreateKey(keys_pb2.CreateKeyRequest(name="ci", role="client"), context)
    limited = keys_pb2.UpdateKeyRequest(
        key=keys_pb2.KeyRef(name="ci"), policy=keys_pb2.KeyPolicy(models=["haiku"], rpm=60)
    )
    await rig.admin.UpdateKey(limited, context)
    refused = chat("r7", "conv-f")
    refused.key_id = made.key.id
    await rig.complete(refused)
    # key_revoked
    await rig.admin.RevokeKey(keys_pb2.KeyRef(name="ci"), context)


def shape(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each value tagged by its JSON type; volatile values by their type only."""

    def tag(key: str, value: Any) -> Any:
        name = type(value).__name__
        if key == "key_id" and isinstance(value, str) and value.startswith("key_"):
            return [name, KEY_ID]
        if key in VOLATILE or value is None:
            return f"<{name}>"
        return [name, value]

    return {key: tag(key, value) for key, value in data.items()}


def by_kind(events: list[ProxyEvent]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        found.setdefault(event.type, []).append(shape(event.data))
    return dict(sorted(found.items()))


def fixture() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = json.loads(FIXTURE.read_text())
    return found


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    with short_state_dir() as root:
        rig = await Rig.start(
            Path(root), {"1": "cli", "2": "cli"}, worker_class=GatedWorker, max_concurrent=1
        )
        rig.events.sinks.append(rig.accounting.observe)
        try:
            yield rig
        finally:
            await rig.stop()


async def test_every_kind_keeps_its_shape_in_the_log_the_database_admin_and_the_live_feed(
    rig: Rig,
) -> None:
    events = await drive(rig)
    assert by_kind(events) == fixture()
    logged = [e for e in events if e.id]
    await rig.accounting.flush()
    persisted, _, _ = await rig.accounting.query(lambda db: db.load_events(1000))
    assert [(e.id, e.type, e.data) for e in persisted] == [(e.id, e.type, e.data) for e in logged]
    sent = [event_proto(e) for e in events]  # what ListEvents and WatchEvents send
    assert [(m.type, json.loads(m.data_json)) for m in sent] == [(e.type, e.data) for e in events]


def test_the_fixture_covers_every_kind_and_each_kind_has_exactly_its_fields() -> None:
    expected = fixture()
    assert set(expected) == set(KINDS)
    types = {"str": {"str"}, "int": {"int"}, "float": {"float"}, "bool": {"bool"}}
    types["int | None"] = {"int", "NoneType"}
    for kind, cls in KINDS.items():
        fields = dataclasses.fields(cls)
        assert cls.kind == kind
        assert list(expected[kind][0]) == [f.name for f in fields], kind  # the emitters' order
        for data in expected[kind]:
            assert set(data) == {f.name for f in fields}, kind
            for f in fields:
                tag = data[f.name]
                name = tag[0] if isinstance(tag, list) else tag.strip("<>")
                assert name in types[str(f.type)], (kind, f.name, tag)


def test_a_kind_is_built_from_its_fields_only() -> None:
    with pytest.raises(TypeError):
        Started(request_id="r1", worker="1", attempt=1, waited_ms=0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Chunk(request_id="r1", worker="1", text="hi", extra=1)  # type: ignore[call-arg]
    event = EventBus().emit(
        Started(request_id="r1", worker="1", attempt=2, waited_ms=5, prompt_tokens=9)
    )
    assert (event.type, event.data) == (
        "started",
        {"request_id": "r1", "worker": "1", "attempt": 2, "waited_ms": 5, "prompt_tokens": 9},
    )


def test_decoding_a_row_never_fails() -> None:
    assert decode("no_longer_a_kind", {"x": 1}) == Unrecognised()
    assert decode("started", ["not", "an", "object"]) == Started("", "", 0, 0, 0)
    odd = decode("complete", {"status": "ok", "input_tokens": "12", "ttft_ms": 7.9, "new": True})
    assert isinstance(odd, Completed)
    assert (odd.status, odd.input_tokens, odd.ttft_ms, odd.worker) == ("ok", 12, 7, "")
    bad = decode("error", {"output_tokens": "many", "duration_ms": None, "ttft_ms": "soon"})
    assert isinstance(bad, Failed) and (bad.output_tokens, bad.duration_ms, bad.ttft_ms) == (
        0,
        0,
        None,
    )
    row = ProxyEvent(3, "request", 1.0, {"request_id": "r9"})  # a row as the database gives it
    assert row.payload == RequestArrived("r9", "", "", False, "", "", "")


OLD_ROWS = [
    # An older controller's request and start: no `user`/`priority`, no `prompt_tokens`.
    (
        1,
        "request",
        100.0,
        {"request_id": "cut", "source": "ide", "model": "sonnet", "stream": True},
    ),
    (2, "started", 100.5, {"request_id": "cut", "worker": "1", "attempt": 1, "waited_ms": 3}),
    # A kind this controller does not know, and a row that is not an object.
    (3, "legacy_notice", 101.0, {"text": "from an older version"}),
    (4, "queued", 101.5, [1, 2]),
    # A finished request whose row has a key no kind has and a number written as text.
    (5, "request", 102.0, {"request_id": "done", "source": "cli", "model": "opus"}),
    (6, "complete", 103.0, {"request_id": "done", "status": "ok", "input_tokens": "40", "x": 1}),
]


async def test_rows_of_an_older_controller_restore_and_recover(tmp_path: Path) -> None:
    config = controller_config(tmp_path, [])
    db = AccountingDb(config.paths.database)
    db.close()
    with sqlite3.connect(config.paths.database) as conn:  # written as the old code wrote them
        conn.executemany(
            "INSERT INTO events (id, type, ts, data) VALUES (?, ?, ?, ?)",
            [(i, kind, ts, json.dumps(data)) for i, kind, ts, data in OLD_ROWS],
        )
    events, accounting, _, restored = await open_event_log(config)
    try:
        assert [(e.id, e.type, e.ts, e.data) for e in restored] == OLD_ROWS  # as written
        assert isinstance(restored[2].payload, Unrecognised)
        listed = [json.loads(event_proto(e).data_json) for e in events.recent(0, 100)]
        assert listed == [data for _, _, _, data in OLD_ROWS]
        announce_start(events, restored, now=110.0)
        (startup, closing) = events.recent(6, 100)
        assert (startup.type, startup.data["restored"]) == ("startup", 6)
        assert isinstance(closing.payload, Failed)
        assert closing.data == {
            "request_id": "cut",
            "source": "ide",
            "model": "sonnet",
            "worker": "1",
            "mode": "",
            "status": INTERRUPTED,
            "error_category": "interrupted",
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "ttft_ms": None,
            "duration_ms": 10_000,
            "retries": 0,
            "key_id": "",
        }
        traffic = await accounting.query(lambda db: db.breakdown())
        assert dict(traffic.errors_by_category) == {"interrupted": 1}
    finally:
        await accounting.close()
