"""How CLI turns were served, warm and parked processes, CLI versions: the controller's half.

The pure pieces (controller/workers/sessions.py, the stale rule, the frontdoor's `sessions` section)
are tested directly; the wiring runs
the controller's real pool, scheduler, RequestRun and Admin service against in-process fake
workerds (real gRPC servers on unix sockets, tests/middle/inprocess.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common.events import is_output
from controller.scheduling.affinity import conversation_key
from controller.storage.usage import stale_reason
from controller.workers.sessions import (
    REBUILD_REASONS,
    PoolState,
    SessionCounts,
    new_fallbacks,
)
from frontdoor.monitoring import metrics_json
from protos import common_pb2 as pb
from protos import controller_pb2, worker_pb2
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle

GIB = 1024**3


def session(served: str, reason: str = "", pid: int = 4242, written: int = 120) -> pb.Event:
    return pb.Event(
        session=pb.SessionInfo(served=served, rebuild_reason=reason, pid=pid, bytes_written=written)
    )


def answer(text: str = "hello") -> list[pb.Event]:
    return [
        pb.Event(text=pb.TextDelta(text=text)),
        pb.Event(usage=pb.Usage(input_tokens=10, output_tokens=2)),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet")),
    ]


def chat(request_id: str, *turns: str, session_key: str = "") -> pb.ChatRequest:
    roles = (pb.ROLE_USER, pb.ROLE_ASSISTANT)
    return pb.ChatRequest(
        request_id=request_id,
        model="sonnet",
        source="ide",
        session_key=session_key,
        messages=[
            pb.ChatMessage(role=roles[n % 2], content=[pb.ContentBlock(text=text)])
            for n, text in enumerate(turns)
        ],
    )


# -- pure ----------------------------------------------------------------------------------


def test_counts_are_kept_by_how_and_by_reason() -> None:
    counts = SessionCounts()
    for how, reason in [("live", ""), ("live", ""), ("warm", "edited"), ("cold", "gone")]:
        counts.note(pb.SessionInfo(served=how, rebuild_reason=reason))
    counts.note(pb.SessionInfo(served="cold", rebuild_reason="x" * 100))  # a label, bounded
    assert counts.served_json() == {"live": 2, "warm": 1, "cold": 2}
    rebuilds = counts.rebuilds_json()
    assert list(rebuilds)[: len(REBUILD_REASONS)] == list(REBUILD_REASONS)
    assert (rebuilds["edited"], rebuilds["gone"], rebuilds["failed"]) == (1, 1, 0)
    assert rebuilds["x" * 32] == 1 and len(rebuilds) == len(REBUILD_REASONS) + 1


def test_an_empty_report_counts_nothing() -> None:
    counts = SessionCounts()
    counts.note(pb.SessionInfo())
    assert counts.served == {} and counts.rebuilds == {}
    assert counts.served_json() == {"live": 0, "warm": 0, "cold": 0}


def test_pool_state_from_status_and_after_the_worker_is_gone() -> None:
    status = worker_pb2.WorkerStatus(
        cli_version="2.1.197",
        warm=2,
        parked=1,
        running=3,
        idle_rss_bytes=GIB,
        warm_fallbacks=["sig-a"],
    )
    state = PoolState.from_status(status)
    assert state == PoolState("2.1.197", 2, 1, 3, GIB, ("sig-a",))
    assert state.gone() == PoolState("2.1.197", 0, 0, 0, 0, ("sig-a",))


def test_new_fallbacks_are_the_ones_not_seen_before() -> None:
    assert new_fallbacks((), ["a", "b"]) == ["a", "b"]
    assert new_fallbacks(("a",), ["a", "c", "b"]) == ["c", "b"]
    assert new_fallbacks(("a", "b"), ["a"]) == []


def test_the_sessions_section_sums_every_worker() -> None:
    one, two = SessionCounts(), SessionCounts()
    one.note(pb.SessionInfo(served="live"))
    two.note(pb.SessionInfo(served="live"))
    two.note(pb.SessionInfo(served="cold", rebuild_reason="evicted"))
    pools = {
        "1": ("cli", PoolState("2.1", 2, 1, 0, 300), one),
        "2": ("agent", PoolState("2.2", 1, 0, 1, 200), two),
        "3": ("api", PoolState("", 0, 0, 4, 0), SessionCounts()),
    }
    infos = [
        controller_pb2.WorkerInfo(
            name=name,
            mode=mode,
            cli_version=pool.cli_version,
            warm=pool.warm,
            parked=pool.parked,
            running_processes=pool.running,
            idle_rss_bytes=pool.idle_rss_bytes,
            served=counts.served_json(),
            rebuilds=counts.rebuilds_json(),
        )
        for name, (mode, pool, counts) in pools.items()
    ]
    running = controller_pb2.CliProcess(worker="2", state="running", rss_bytes=500)
    idle = controller_pb2.CliProcess(worker="1", state="ready", rss_bytes=300)
    section = metrics_json.sessions(infos, controller_pb2.ProcessReport(processes=[running, idle]))
    assert section["served"] == {"live": 2, "warm": 0, "cold": 1}
    assert section["rebuilds"]["evicted"] == 1 and sum(section["rebuilds"].values()) == 1
    assert section["processes"] == {
        "warm": 3,
        "parked": 1,
        "running": 1,
        "idleRssBytes": 500,
        "runningRssBytes": 500,
    }
    assert section["byWorker"]["2"]["cliVersion"] == "2.2"
    assert section["byWorker"]["2"]["mode"] == "agent"
    assert section["byWorker"]["3"]["running"] == 4  # API calls: not in the process totals


def test_warm_and_parked_processes_are_never_stale_for_silence() -> None:
    limits = {"max_age_ms": 60_000, "max_idle_ms": 5_000}
    for state in ("ready", "parked"):
        assert stale_reason(10, 3_000, state=state, **limits) == ""
        assert stale_reason(61, 3_000, state=state, **limits) == "age"
    assert stale_reason(10, 6, state="running", **limits) == "idle"
    assert stale_reason(10, 4, state="running", **limits) == ""


def test_a_session_event_is_never_output() -> None:
    assert not is_output(session("live"))
    assert is_output(pb.Event(text=pb.TextDelta(text="x")))


# -- wired to fake workerds ----------------------------------------------------------------


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    with short_state_dir() as root:
        running = await Rig.start(Path(root), {"1": "cli", "2": "api"})
        try:
            yield running
        finally:
            await running.stop()


async def test_session_events_are_counted_logged_and_never_forwarded(rig: Rig) -> None:
    worker = rig.workers["1"]
    rig.pool.handles["2"].draining = True  # every turn goes to worker 1
    worker.script = [session("cold", written=900), *answer("hello")]
    first = await rig.complete(chat("r1", "hi"))
    worker.script = [*answer("again")[:1], session("live", written=40), *answer("")[1:]]
    second = await rig.complete(chat("r2", "hi", "hello", "more"))
    worker.script = [session("warm", "edited", pid=7), *answer("edited")]
    await rig.complete(chat("r3", "hi", "HELLO", "more"))

    for events in (first, second):
        kinds = [e.WhichOneof("kind") for e in events]
        assert "session" not in kinds
        assert kinds[0] == "started" and "text" in kinds and kinds[-1] == "finish"
    assert [e.text.text for e in first if e.HasField("text")] == ["hello"]
    handle = rig.pool.handles["1"]
    assert handle.sessions.served_json() == {"live": 1, "warm": 1, "cold": 1}
    assert handle.sessions.rebuilds == {"edited": 1}
    assert rig.pool.handles["2"].sessions.served == {}
    logged = [e.data for e in rig.logged("session")]
    assert logged == [
        {
            "request_id": "r1",
            "worker": "1",
            "served": "cold",
            "rebuild_reason": "",
            "pid": 4242,
            "bytes_written": 900,
        },
        {
            "request_id": "r2",
            "worker": "1",
            "served": "live",
            "rebuild_reason": "",
            "pid": 4242,
            "bytes_written": 40,
        },
        {
            "request_id": "r3",
            "worker": "1",
            "served": "warm",
            "rebuild_reason": "edited",
            "pid": 7,
            "bytes_written": 120,
        },
    ]
    assert [e.data["status"] for e in rig.logged("complete")] == ["ok", "ok", "ok"]


async def test_the_conversation_key_reaches_the_worker(rig: Rig) -> None:
    worker = rig.workers["1"]
    rig.pool.handles["2"].draining = True
    worker.script = answer()
    await rig.complete(chat("r1", "hi"))
    await rig.complete(chat("r2", "hi", "hello", "more"))
    await rig.complete(chat("r3", "another conversation"))
    await rig.complete(chat("r4", "hi", session_key="pinned"))
    keys = [run.conversation_key for run in worker.runs]
    assert keys[0] == conversation_key("", "ide", "", "hi")
    assert keys[1] == keys[0]  # the same conversation, turn after turn
    assert keys[2] not in ("", keys[0])
    assert keys[3] == conversation_key("pinned", "ide", "", "hi") != keys[0]
    assert [run.chat.request_id for run in worker.runs] == ["r1", "r2", "r3", "r4"]
    opened = [run.conversation_opened_at for run in worker.runs]
    assert opened[0] > 0 and opened[1] == opened[0]  # when it opened, not when this turn came
    assert opened[2] >= opened[0] and opened[3] >= opened[0]


async def test_status_fills_list_workers(rig: Rig) -> None:
    rig.workers["1"].status.MergeFrom(
        worker_pb2.WorkerStatus(
            cli_version="2.1.197",
            warm=2,
            parked=1,
            running=1,
            idle_rss_bytes=3 * 200_000_000,
            warm_fallbacks=["sig-json"],
        )
    )
    await rig.poll()
    handle = rig.pool.handles["1"]
    handle.sessions.note(pb.SessionInfo(served="live"))
    handle.sessions.note(pb.SessionInfo(served="cold", rebuild_reason="expired"))
    reply = await rig.admin.ListWorkers(controller_pb2.ListWorkersRequest(), None)
    infos = {info.name: info for info in reply.workers}
    one = infos["1"]
    assert (one.cli_version, one.warm, one.parked, one.running_processes) == ("2.1.197", 2, 1, 1)
    assert one.idle_rss_bytes == 600_000_000 and list(one.warm_fallbacks) == ["sig-json"]
    assert dict(one.served) == {"live": 1, "warm": 0, "cold": 1}
    assert one.rebuilds["expired"] == 1 and one.rebuilds["edited"] == 0
    assert (infos["2"].cli_version, infos["2"].warm) == ("", 0)

    rig.pool.mark_down("1", "test")  # a workerd that is gone holds nothing any more
    info = (await rig.admin.ListWorkers(controller_pb2.ListWorkersRequest(), None)).workers[0]
    assert (info.warm, info.parked, info.running_processes, info.idle_rss_bytes) == (0, 0, 0, 0)
    assert info.cli_version == "2.1.197"


async def test_a_new_warm_fallback_is_logged_once(rig: Rig) -> None:
    status = rig.workers["1"].status
    status.warm_fallbacks[:] = ["sig-a"]
    await rig.poll()
    await rig.poll()
    status.warm_fallbacks[:] = ["sig-a", "sig-b"]
    await rig.poll()
    await rig.poll()
    seen = [(e.data["worker"], e.data["signature"]) for e in rig.logged("warm_fallback")]
    assert seen == [("1", "sig-a"), ("1", "sig-b")]
    status.started_at = 2.0  # a restarted workerd: its fallbacks are news again
    status.warm_fallbacks[:] = ["sig-b"]
    await rig.poll()
    await rig.poll()
    seen = [(e.data["worker"], e.data["signature"]) for e in rig.logged("warm_fallback")]
    assert seen == [("1", "sig-a"), ("1", "sig-b"), ("1", "sig-b")]


def process(pid: int, state: str, age_s: float, idle_s: float, **extra: Any) -> Any:
    return worker_pb2.ProcessInfo(
        pid=pid, state=state, age_s=age_s, idle_s=idle_s, model="sonnet", **extra
    )


async def test_list_processes_passes_rss_and_conversation_and_spares_idle_ones(rig: Rig) -> None:
    hour = 3600.0
    rig.workers["1"].processes = [
        process(10, "ready", 60, 900, rss_bytes=180_000_000, signature="s1"),
        process(11, "parked", 120, 900, rss_bytes=250_000_000, conversation="c0nv"),
        process(12, "running", 30, 900, rss_bytes=300_000_000, conversation="c0nv2"),
        process(13, "running", 30, 1, rss_bytes=290_000_000),
        process(14, "parked", hour, 1, rss_bytes=260_000_000, conversation="old"),
    ]
    report = await rig.admin.ListProcesses(controller_pb2.ListProcessesAdminRequest(), None)
    rows = {p.pid: p for p in report.processes}
    assert {pid: (p.stale, p.stale_reason) for pid, p in rows.items()} == {
        10: (False, ""),
        11: (False, ""),
        12: (True, "idle"),
        13: (False, ""),
        14: (True, "age"),
    }
    assert (rows[11].rss_bytes, rows[11].conversation, rows[11].state) == (
        250_000_000,
        "c0nv",
        "parked",
    )
    assert rows[10].rss_bytes == 180_000_000 and rows[10].worker == "1"


async def test_get_stats_has_a_sessions_section(rig: Rig) -> None:
    rig.workers["1"].status.MergeFrom(
        worker_pb2.WorkerStatus(
            cli_version="2.1.197", warm=2, parked=1, running=1, idle_rss_bytes=500
        )
    )
    rig.workers["1"].processes = [
        process(10, "ready", 1, 1, rss_bytes=200),
        process(11, "parked", 1, 1, rss_bytes=300),
        process(12, "running", 1, 1, rss_bytes=700),
    ]
    await rig.poll()
    rig.pool.handles["1"].sessions.note(pb.SessionInfo(served="warm", rebuild_reason="budget"))
    reply = await rig.admin.GetStats(controller_pb2.GetStatsRequest(), None)
    stats = metrics_json.metrics(reply)
    sessions = stats["sessions"]
    assert sessions["served"] == {"live": 0, "warm": 1, "cold": 0}
    assert sessions["rebuilds"]["budget"] == 1
    assert sessions["processes"] == {
        "warm": 2,
        "parked": 1,
        "running": 1,
        "idleRssBytes": 500,
        "runningRssBytes": 700,
    }
    one = sessions["byWorker"]["1"]
    assert (one["cliVersion"], one["warm"], one["parked"], one["running"]) == ("2.1.197", 2, 1, 1)
    assert one["served"]["warm"] == 1 and one["warmFallbacks"] == []
    assert sessions["byWorker"]["2"]["mode"] == "api"
    assert stats["processes"]["byState"] == {"ready": 1, "parked": 1, "running": 1}
    assert stats["processes"]["rssBytes"] == 1200 and stats["processes"]["total"] == 3
    workers = {w["name"]: w for w in stats["workers"]}
    assert workers["1"]["cliVersion"] == "2.1.197" and workers["2"]["cliVersion"] == ""
    # The keys that were there before are all still there.
    assert {"tokens", "queue", "processes", "workers", "errors", "affinity", "config"} <= set(stats)
