"""The frontdoor's monitoring endpoints show warm, parked and running CLI processes.

The whole chain runs in this process: the frontdoor app (aiohttp test client) asks the
controller's real Admin service (on a unix socket), which asks fake workerds
(tests/middle/inprocess.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from common.models import ModelCatalog
from frontdoor.app import create_app
from frontdoor.config import FrontdoorConfig
from protos import common_pb2 as pb
from protos import worker_pb2
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle

TOKEN = "monitoring-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MB = 1_000_000


@dataclass
class Setup:
    rig: Rig
    http: TestClient[web.Request, web.Application]

    async def get(self, path: str) -> Any:
        response = await self.http.get(path, headers=AUTH)
        assert response.status == 200, await response.text()
        if path.startswith("/metrics/prometheus"):
            return await response.text()
        return await response.json()


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {"1": "cli", "2": "agent", "3": "api"})
        await rig.serve_admin()
        config = FrontdoorConfig(
            host="127.0.0.1",
            port=0,
            auth_token=TOKEN,
            paths=rig.config.paths,
            models=ModelCatalog(),
            max_body_bytes=1 << 20,
            workers_configured=3,
            stream_commit_ms=15_000,
        )
        try:
            async with TestClient(TestServer(create_app(config))) as http:
                yield Setup(rig, http)
        finally:
            await rig.stop()


def held_processes(rig: Rig) -> None:
    """Worker 1 holds a warm, a parked and a running process; worker 2 one silent running one."""
    rig.workers["1"].processes = [
        worker_pb2.ProcessInfo(
            pid=101, state="ready", age_s=30, idle_s=900, rss_bytes=180 * MB, signature="s1"
        ),
        worker_pb2.ProcessInfo(
            pid=102,
            state="parked",
            age_s=60,
            idle_s=900,
            rss_bytes=250 * MB,
            conversation="a1b2c3d4",
            request_id="req-parked",
        ),
        worker_pb2.ProcessInfo(
            pid=103,
            state="running",
            age_s=5,
            idle_s=1,
            rss_bytes=300 * MB,
            conversation="e5f6",
            request_id="req-running",
            model="sonnet",
        ),
    ]
    rig.workers["2"].processes = [
        worker_pb2.ProcessInfo(pid=201, state="running", age_s=900, idle_s=900, rss_bytes=5 * MB)
    ]
    rig.workers["1"].status.MergeFrom(
        worker_pb2.WorkerStatus(
            cli_version="2.1.328", warm=1, parked=1, running=1, idle_rss_bytes=430 * MB
        )
    )
    rig.workers["2"].status.MergeFrom(
        worker_pb2.WorkerStatus(cli_version="2.1.197", running=1, warm_fallbacks=["sig-9"])
    )


async def test_zombies_shows_state_rss_and_conversation(setup: Setup) -> None:
    held_processes(setup.rig)
    body = await setup.get("/zombies")
    rows = {p["pid"]: p for p in body["processes"]}
    assert rows[102] == {
        "pid": 102,
        "worker": "1",
        "requestId": "req-parked",
        "model": "",
        "state": "parked",
        "ageS": 60,
        "idleS": 900,
        "stale": False,
        "staleReason": "",
        "rssBytes": 250 * MB,
        "conversation": "a1b2c3d4",
    }
    assert (rows[101]["state"], rows[101]["rssBytes"], rows[101]["stale"]) == (
        "ready",
        180 * MB,
        False,
    )
    assert rows[103]["conversation"] == "e5f6" and not rows[103]["stale"]
    # Silent for 900 s while running (MAX_IDLE_MS 600 s): the only zombie.
    assert [(z["pid"], z["staleReason"]) for z in body["zombies"]] == [(201, "idle")]
    assert body["byState"] == {"ready": 1, "parked": 1, "running": 2}
    assert body["rssBytes"] == (180 + 250 + 300 + 5) * MB


async def test_metrics_json_has_sessions_and_cli_versions(setup: Setup) -> None:
    rig = setup.rig
    held_processes(rig)
    await rig.poll()
    rig.pool.handles["3"].draining = True
    rig.pool.handles["2"].draining = True
    for served, reason in (("cold", ""), ("live", ""), ("live", ""), ("warm", "signature")):
        rig.workers["1"].script = [
            pb.Event(session=pb.SessionInfo(served=served, rebuild_reason=reason, pid=103)),
            pb.Event(text=pb.TextDelta(text="ok")),
            pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP)),
        ]
        request = pb.ChatRequest(
            request_id=f"r-{served}-{reason}",
            model="sonnet",
            source="ide",
            messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hi")])],
        )
        await rig.complete(request)
    stats = await setup.get("/metrics")
    sessions = stats["sessions"]
    assert sessions["served"] == {"live": 2, "warm": 1, "cold": 1}
    assert sessions["rebuilds"]["signature"] == 1
    assert sessions["processes"] == {
        "warm": 1,
        "parked": 1,
        "running": 2,
        "idleRssBytes": 430 * MB,
        "runningRssBytes": 305 * MB,
    }
    one, two = sessions["byWorker"]["1"], sessions["byWorker"]["2"]
    assert (one["cliVersion"], one["served"]["live"], one["runningRssBytes"]) == (
        "2.1.328",
        2,
        300 * MB,
    )
    assert (two["cliVersion"], two["warmFallbacks"], two["served"]["cold"]) == (
        "2.1.197",
        ["sig-9"],
        0,
    )
    assert [w["cliVersion"] for w in stats["workers"]] == ["2.1.328", "2.1.197", ""]
    assert stats["processes"]["total"] == 4  # the existing keys keep their meaning

    events = await setup.get("/events?type=session&limit=10")
    assert [(e["data"]["served"], e["data"]["rebuild_reason"]) for e in events["events"]] == [
        ("cold", ""),
        ("live", ""),
        ("live", ""),
        ("warm", "signature"),
    ]
    fallbacks = await setup.get("/events?type=warm_fallback")
    assert [e["data"] for e in fallbacks["events"]] == [{"worker": "2", "signature": "sig-9"}]


async def test_prometheus_has_the_cli_families(setup: Setup) -> None:
    rig = setup.rig
    held_processes(rig)
    await rig.poll()
    rig.pool.handles["1"].sessions.note(pb.SessionInfo(served="live"))
    rig.pool.handles["1"].sessions.note(pb.SessionInfo(served="cold", rebuild_reason="gone"))
    text = await setup.get("/metrics/prometheus")
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def values(name: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {tuple(s.labels[k] for k in labels): s.value for s in families[name].samples}

    processes = values("ccproxy_cli_processes", "worker", "state")
    assert processes == {
        ("1", "warm"): 1,
        ("1", "parked"): 1,
        ("1", "running"): 1,
        ("2", "warm"): 0,
        ("2", "parked"): 0,
        ("2", "running"): 1,
    }
    turns = values("ccproxy_cli_turns", "worker", "served")
    assert (turns[("1", "live")], turns[("1", "cold")], turns[("2", "live")]) == (1, 1, 0)
    assert values("ccproxy_cli_rebuilds", "worker", "reason")[("1", "gone")] == 1
    assert values("ccproxy_cli_idle_rss_bytes", "worker") == {("1",): 430 * MB, ("2",): 0}
    assert values("ccproxy_worker_info", "worker", "mode", "cli_version") == {
        ("1", "cli", "2.1.328"): 1,
        ("2", "agent", "2.1.197"): 1,
        ("3", "api", ""): 1,
    }


async def test_pool_figures_reach_metrics_and_prometheus(setup: Setup) -> None:
    """Worker 1's workerd reports its pool's sizing; worker 2 (agent) reports none, worker 3 is
    an api worker: only worker 1 has a `pool` object and `ccproxy_pool_*` series."""
    rig = setup.rig
    held_processes(rig)
    rig.workers["1"].status.pool.CopyFrom(
        pb.PoolFigures(
            target=4,
            floor=2,
            ceiling=6,
            ready=1,
            starting=3,
            memory_bytes=1_230 * MB,
            memory_budget_bytes=2_000 * MB,
            claimed_starting=7,
        )
    )
    await rig.poll()
    by_worker = (await setup.get("/metrics"))["sessions"]["byWorker"]
    assert by_worker["1"]["pool"] == {
        "target": 4,
        "floor": 2,
        "ceiling": 6,
        "ready": 1,
        "starting": 3,
        "memoryBytes": 1_230 * MB,
        "memoryBudgetBytes": 2_000 * MB,
        "claimedStarting": 7,
    }
    assert by_worker["2"]["pool"] is None and by_worker["3"]["pool"] is None

    text = await setup.get("/metrics/prometheus")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    pools = {
        (name, s.labels["worker"]): s.value
        for name, f in families.items()
        if name.startswith("ccproxy_pool_")
        for s in f.samples
    }
    assert pools == {
        ("ccproxy_pool_target", "1"): 4,
        ("ccproxy_pool_floor", "1"): 2,
        ("ccproxy_pool_ceiling", "1"): 6,
        ("ccproxy_pool_ready", "1"): 1,
        ("ccproxy_pool_starting", "1"): 3,
        ("ccproxy_pool_memory_bytes", "1"): 1_230 * MB,
        ("ccproxy_pool_memory_budget_bytes", "1"): 2_000 * MB,
        ("ccproxy_pool_claimed_starting", "1"): 7,
    }
    assert families["ccproxy_pool_claimed_starting"].type == "counter"
