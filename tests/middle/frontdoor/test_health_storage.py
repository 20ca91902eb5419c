"""GET /health says `degraded` (200) while the controller's database refuses writes, and an
admin's answer carries the storage status."""

from __future__ import annotations

import pytest

from protos import controller_pb2
from tests.middle.door import Door

pytestmark = pytest.mark.middle
UP = controller_pb2.WorkerInfo(name="w1", mode="cli", state="up", cli_version="2.1.332")


async def test_failing_storage_makes_health_degraded_and_an_admin_sees_why(door: Door) -> None:
    door.controller.workers = controller_pb2.WorkerList(
        workers=[UP],
        storage=controller_pb2.StorageStatus(
            state="degraded",
            pending_writes=42,
            ceiling=20_000,
            last_error="database is locked",
            failing_since=1_700_000_000.0,
        ),
    )
    public = await door.request("GET", "/health", headers={"Authorization": ""})
    assert public.status == 200
    assert public.json()["status"] == "degraded" and public.json()["storage"] == "degraded"
    assert "storageDetail" not in public.json()  # the why is for an admin
    admin = (await door.request("GET", "/health")).json()  # the proxy token
    assert admin["storageDetail"] == {
        "state": "degraded",
        "pendingWrites": 42,
        "ceiling": 20_000,
        "dropped": 0,
        "lastError": "database is locked",
        "failingSince": 1_700_000_000.0,
    }


async def test_storage_that_takes_writes_leaves_health_ok(door: Door) -> None:
    door.controller.workers = controller_pb2.WorkerList(
        workers=[UP], storage=controller_pb2.StorageStatus(state="ok", ceiling=20_000)
    )
    reply = await door.request("GET", "/health", headers={"Authorization": ""})
    assert reply.status == 200
    assert reply.json()["status"] == "ok" and reply.json()["storage"] == "ok"


async def test_metrics_and_prometheus_say_storage_is_failing(door: Door) -> None:
    door.controller.stats = controller_pb2.StatsSnapshot(
        storage=controller_pb2.StorageStatus(
            state="degraded", pending_writes=42, ceiling=20_000, dropped=3, last_error="full"
        )
    )
    metrics = (await door.request("GET", "/metrics")).json()
    assert metrics["storage"] == {
        "state": "degraded",
        "pendingWrites": 42,
        "ceiling": 20_000,
        "dropped": 3,
        "lastError": "full",
        "failingSince": None,
    }
    prometheus = (await door.request("GET", "/metrics/prometheus")).body.decode()
    assert "ccproxy_storage_degraded 1" in prometheus.splitlines()
    assert "ccproxy_storage_pending_writes 42" in prometheus.splitlines()
    assert "ccproxy_storage_dropped_total 3" in prometheus.splitlines()
