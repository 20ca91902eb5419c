"""A controller whose every /metrics section has something in it, for the wire-shape tests.

`populate` drives the real Scheduler, Accounting and EventBus of a `Rig` (fake workerds) into a
known state: finished and failed requests on several models and workers, queue waits and
refusals, affinity decisions, paced rate-limit windows, a cooling account with quota windows,
CLI sessions, held processes and pool sizing, and a key with a policy whose request is among them.
`volatile` blanks the figures that depend on the clock (and the key's random id).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from common.models import ModelCatalog
from common.workers import WorkerSpec
from controller.events.kinds import Completed, Failed, Started
from controller.quota.windows import WindowState
from frontdoor.app import create_app
from frontdoor.config import FrontdoorConfig
from protos import common_pb2 as pb
from protos import keys_pb2, worker_pb2
from tests.middle.inprocess import Rig

MB = 1_000_000
RESETS_AT = 4_102_444_800  # 2100-01-01: always ahead
SEEN_AT = 1_700_000_000.125
WORKERS = (
    WorkerSpec(name="1", mode="cli", token="sk-ant-oat01-scenario"),
    WorkerSpec(name="w2", mode="agent", max_concurrent=2),
    WorkerSpec(name="3", mode="api", api_key="sk-ant-api03-scenario"),
)
CLOCK_KEYS = frozenset(
    {"generatedAt", "uptimeS", "ts", "lastRequestAt", "coolingUntil", "renewsAt", "lastUsedAt"}
)
"""Keys whose values depend on when the scenario ran (unix seconds or seconds since start)."""
KEY_POLICY = keys_pb2.KeyPolicy(rpm=60, daily_tokens=100_000, monthly_cost_usd=5.0)


async def start_rig(root: Path) -> Rig:
    rig = await Rig.start(root, {}, specs=WORKERS)
    live = rig.admin._live  # wired as controller/server.py wires the bus's sinks
    rig.events.sinks += [rig.accounting.observe, live.observe]
    return rig


def _finish(rig: Rig, request_id: str, model: str, worker: str, **figures: Any) -> None:
    data: dict[str, Any] = {
        "request_id": request_id,
        "source": "scenario",
        "model": model,
        "worker": worker,
        "mode": rig.pool.handles[worker].spec.mode if worker in rig.pool.handles else "",
        "status": "ok",
        "input_tokens": 100,
        "output_tokens": 40,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "ttft_ms": 300,
        "duration_ms": 1_800,
    }
    data.update(figures)
    rig.events.emit((Completed if data["status"] == "ok" else Failed).from_json(data))


async def _key(rig: Rig) -> str:
    """A client key with a policy (its id: random, blanked by `volatile`)."""
    request = keys_pb2.CreateKeyRequest(name="scenario-key", policy=KEY_POLICY)
    created = await rig.admin.keys.create(request, None)
    return created.key.id


def _traffic(rig: Rig, key_id: str) -> None:
    for waited in (0, 15, 40, 2_000):
        rig.events.emit(Started.from_json({"waited_ms": waited}))
    _finish(rig, "r1", "claude-sonnet-4-5", "1", cache_read_tokens=1_000, cache_write_tokens=50)
    _finish(rig, "r2", "claude-sonnet-4-5", "1", ttft_ms=7_500, duration_ms=45_000)
    _finish(rig, "r3", "claude-opus-4-1", "w2", input_tokens=7, output_tokens=3)
    _finish(rig, "r4", "claude-haiku-4-5", "3", ttft_ms=None, duration_ms=250, key_id=key_id)
    _finish(rig, "r5", "claude-opus-4-1", "w2", status="TIMEOUT", output_tokens=0, ttft_ms=None)
    _finish(rig, "r6", "claude-sonnet-4-5", "", status="QUEUE_TIMEOUT", input_tokens=0)
    _finish(rig, "r7", "claude-haiku-4-5", "3", status="UPSTREAM_OVERLOADED", input_tokens=0)
    rig.events.emit(Failed.from_json({"status": "RATE_LIMITED", "worker": ""}))  # at admission


def _scheduler_state(rig: Rig) -> None:
    scheduler = rig.scheduler
    now, clock = scheduler.wall(), scheduler.clock()
    scheduler.rejected.add("bulk", 2)
    scheduler.rejected.add("scenario")
    stats = scheduler.affinity.stats
    stats.hits, stats.misses, stats.moves = 7, 2, 1
    scheduler.affinity.record("conv-1", "1", clock, None)
    scheduler.limiter.record("1", "sonnet", "r1", 1_200, clock)
    scheduler.limiter.record("1", "sonnet", "r2", 800, clock)
    scheduler.limiter.record("w2", "opus", "r3", 10, clock)
    scheduler.cooldowns.start("1", 600.0, "rate_limited", now, "reset")
    windows = [
        WindowState("five_hour", "allowed_warning", 0.82, RESETS_AT, SEEN_AT, 0.8),
        WindowState("seven_day", "allowed", None, 0, SEEN_AT),
    ]
    scheduler.quota.load("1", windows)


def _sessions(rig: Rig) -> None:
    one, two = rig.workers["1"], rig.workers["w2"]
    one.status.MergeFrom(
        worker_pb2.WorkerStatus(
            cli_version="2.1.328",
            warm=1,
            parked=1,
            running=1,
            idle_rss_bytes=430 * MB,
            pool=pb.PoolFigures(
                target=3,
                floor=2,
                ceiling=6,
                ready=1,
                starting=2,
                memory_bytes=730 * MB,
                memory_budget_bytes=2_000 * MB,
                claimed_starting=4,
            ),
        )
    )
    two.status.MergeFrom(
        worker_pb2.WorkerStatus(
            cli_version="2.1.197",
            running=1,
            warm_fallbacks=["sig-9"],
            pool=pb.PoolFigures(floor=2, target=2, ceiling=4, starting=1, memory_bytes=5),
        )
    )
    one.processes = [
        worker_pb2.ProcessInfo(pid=101, state="ready", age_s=30, idle_s=900, rss_bytes=180 * MB),
        worker_pb2.ProcessInfo(
            pid=102, state="parked", age_s=60, idle_s=900, rss_bytes=250 * MB, conversation="a1b2"
        ),
        worker_pb2.ProcessInfo(
            pid=103, state="running", age_s=5, idle_s=1, rss_bytes=300 * MB, request_id="r9"
        ),
    ]
    two.processes = [
        worker_pb2.ProcessInfo(pid=201, state="running", age_s=9_000, idle_s=9_000, rss_bytes=5)
    ]
    handles = rig.pool.handles
    handles["1"].sessions.note(pb.SessionInfo(served="warm"))
    handles["1"].sessions.note(pb.SessionInfo(served="live"))
    handles["1"].sessions.note(pb.SessionInfo(served="cold", rebuild_reason="edited"))
    handles["w2"].sessions.note(pb.SessionInfo(served="cold", rebuild_reason="odd-reason"))


async def populate(rig: Rig) -> None:
    """Every section of the snapshot gets figures (see the module docstring)."""
    _traffic(rig, await _key(rig))
    _scheduler_state(rig)
    _sessions(rig)
    await rig.poll()
    await rig.accounting.flush()


def volatile(value: Any, key: str = "") -> Any:
    """`value` with every clock-dependent number replaced by "<clock>"."""
    if isinstance(value, dict):
        return {k: volatile(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [volatile(v, key) for v in value]
    if key in CLOCK_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        return "<clock>"
    if key == "id" and isinstance(value, str) and value.startswith("key_"):
        return "<key id>"
    return value


TOKEN = "scenario-token"
PATHS = (
    "/metrics",
    "/metrics/prometheus",
    "/zombies",
    "/events?limit=100",
    "/metrics/history?window=1h",
)


async def served_documents(root: Path) -> dict[str, Any]:
    """What the real frontdoor serves on each of PATHS for the populated scenario (JSON, or
    text for Prometheus), asked over HTTP of the real Admin service over the fake workerds."""
    rig = await start_rig(root)
    await rig.serve_admin()
    await populate(rig)
    config = FrontdoorConfig(
        host="127.0.0.1",
        port=0,
        auth_token=TOKEN,
        paths=rig.config.paths,
        models=ModelCatalog(),
        max_body_bytes=1 << 20,
        workers_configured=len(WORKERS),
        stream_commit_ms=15_000,
    )
    documents: dict[str, Any] = {}
    try:
        async with TestClient(TestServer(create_app(config))) as http:
            for path in PATHS:
                response = await http.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
                assert response.status == 200, await response.text()
                text = await response.text()
                documents[path] = text if path.endswith("prometheus") else json.loads(text)
    finally:
        await rig.stop()
    return documents
