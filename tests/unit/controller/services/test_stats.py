"""The GetStats pieces that need no servers: live counters, percentiles, the effective config."""

from __future__ import annotations

import json
from pathlib import Path

from common.paths import StatePaths
from common.workers import WorkerSpec
from controller.config import ControllerConfig
from controller.events.bus import ProxyEvent
from controller.scheduling.ratelimit import DEFAULT_LIMITS
from controller.services.stats import LiveStats, effective_config, percentile
from frontdoor.monitoring import metrics_json
from protos import controller_pb2


def event(kind: str, **data: object) -> ProxyEvent:
    return ProxyEvent(1, kind, 0.0, dict(data))


def test_live_stats_count_waits_timeouts_and_admission_refusals() -> None:
    live = LiveStats()
    for waited in (0, 10, 20, 1000):
        live.observe(event("started", waited_ms=waited))
    live.observe(event("error", status="QUEUE_TIMEOUT", worker=""))
    live.observe(event("error", status="RATE_LIMITED", worker=""))
    live.observe(event("error", status="RATE_LIMITED", worker="1"))  # the upstream's, not ours
    live.observe(event("complete", status="ok"))
    assert live.waits() == controller_pb2.WaitFigures(
        admitted=4, samples=4, mean_ms=257.5, p50_ms=10, p95_ms=1000, max_ms=1000
    )
    assert (live.timeouts, live.rate_limited) == (1, 1)
    assert LiveStats().waits() == controller_pb2.WaitFigures()


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 1.0)) == (
        50,
        95,
        100,
    )
    assert percentile([7], 0.5) == 7


def test_the_effective_config_holds_no_secret(tmp_path: Path) -> None:
    worker = WorkerSpec(
        name="1",
        mode="cli",
        bin="/opt/claude",
        token="sk-ant-oat01-very-secret",
        api_key="sk-ant-api03-also-secret",
        env=(("HTTPS_PROXY", "http://user:pass@proxy"),),
    )
    config = ControllerConfig(
        paths=StatePaths(tmp_path),
        workers=(worker,),
        max_concurrent=10,
        max_queue_total=100,
        max_queue_per_source=20,
        queue_timeout_ms=120_000,
        primary_worker="1",
        health_interval_ms=1_000,
        rate_limits=dict(DEFAULT_LIMITS),
        overflow_to_api=False,
        affinity_ttl_s=1800.0,
        max_attempts=3,
    )
    shown = effective_config(config)
    text = str(shown) + json.dumps(metrics_json.config(shown))
    for secret in ("very-secret", "also-secret", "user:pass", "/opt/claude"):
        assert secret not in text
    assert list(shown.workers) == [
        controller_pb2.ConfiguredWorker(name="1", mode="cli", max_concurrent=4, local=True)
    ]
    assert shown.retention_days == 30 and shown.affinity_ttl_ms == 1_800_000
