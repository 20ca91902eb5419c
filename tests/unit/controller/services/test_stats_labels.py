"""Bounded label series in the GetStats snapshot (issue 21, item 10): refused sources and
model ids a client chooses fold into "other" past the cap, and the sums stay exact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.paths import StatePaths
from common.top_labels import DEFAULT_LABEL_CAP, OTHER
from common.workers import WorkerSpec
from controller.config import ControllerConfig
from controller.events.bus import EventBus
from controller.scheduling.ratelimit import DEFAULT_LIMITS
from controller.scheduling.scheduler import DispatchError, Scheduler, Waiter
from controller.services.stats import DbFigures, LiveStats, build_stats
from controller.workers.pool import WorkerPool
from frontdoor.monitoring import metrics_json, prometheus
from protos import common_pb2 as pb
from protos import controller_pb2

EMPTY = DbFigures(controller_pb2.TokenStats(), controller_pb2.Traffic(), controller_pb2.Latency())


@pytest.fixture
async def scheduler(tmp_path: Path) -> AsyncIterator[Scheduler]:
    spec = WorkerSpec(name="1", mode="cli", max_concurrent=1)
    config = ControllerConfig(
        paths=StatePaths(tmp_path),
        workers=(spec,),
        max_concurrent=1,
        max_queue_total=0,  # whatever cannot start at once is refused: queue_full
        max_queue_per_source=0,
        queue_timeout_ms=120_000,
        primary_worker="1",
        health_interval_ms=1_000,
        rate_limits=dict(DEFAULT_LIMITS),
        overflow_to_api=False,
        affinity_ttl_s=1800.0,
        max_attempts=3,
        model_labels=frozenset({"my-alias", "claude-aliased-target"}),
    )
    pool = WorkerPool(config.workers, config.paths)  # its channels are never used
    for handle in pool.handles.values():
        handle.up = handle.seen_up = True
    yield Scheduler(config, pool, EventBus())
    await pool.close()


def waiter(source: str) -> Waiter:
    request = pb.ChatRequest(request_id=f"r-{source}", model="sonnet", source=source)
    return Waiter(request, f"k-{source}", 10, frozenset(), 1)


def snapshot(scheduler: Scheduler, db: DbFigures = EMPTY) -> controller_pb2.StatsSnapshot:
    return build_stats(scheduler, LiveStats(), db, controller_pb2.ProcessReport(), 0.0)


async def test_refused_sources_are_bounded_and_their_total_exact(scheduler: Scheduler) -> None:
    await scheduler.admit(waiter("holder"))  # takes the only slot
    refusals = 3_000
    for n in range(refusals):
        with pytest.raises(DispatchError) as refused:
            await asyncio.wait_for(scheduler.admit(waiter(f"source-{n}")), 1)
        assert refused.value.code == pb.QUEUE_FULL

    assert len(scheduler.rejected) == DEFAULT_LABEL_CAP + 1  # the cap and "other"
    queue = metrics_json.metrics(snapshot(scheduler))["queue"]
    assert queue["rejected"] == refusals
    assert len(queue["rejectedBySource"]) == DEFAULT_LABEL_CAP + 1
    assert queue["rejectedBySource"][OTHER] == refusals - DEFAULT_LABEL_CAP


def _figures(requests: int) -> controller_pb2.TokenFigures:
    return controller_pb2.TokenFigures(
        requests=requests, input_tokens=10 * requests, output_tokens=requests
    )


def many_models(ids: int) -> DbFigures:
    """`ids` unlisted model ids with one request each, a busy one, and the listed sonnet and
    an alias's target with one request each."""
    by_model = {f"claude-made-up-{n}": _figures(1) for n in range(ids)}
    by_model |= {
        "claude-busy": _figures(500),
        "claude-sonnet-5-5": _figures(1),
        "claude-aliased-target": _figures(1),
    }
    traffic = controller_pb2.Traffic()
    for model, figures in sorted(by_model.items()):
        traffic.request_counts.add(model=model, worker="1", status="ok", requests=figures.requests)
    tokens = controller_pb2.TokenStats(totals=_figures(ids + 502), by_model=by_model)
    return DbFigures(tokens, traffic, controller_pb2.Latency())


async def test_many_model_ids_keep_the_known_and_the_busiest_and_fold_the_rest(
    scheduler: Scheduler,
) -> None:
    ids = 20_000
    stats = snapshot(scheduler, many_models(ids))

    by_model = stats.tokens.by_model
    assert len(by_model) == DEFAULT_LABEL_CAP + 2 + 1  # the top N, the two known, "other"
    assert {"claude-busy", "claude-sonnet-5-5", "claude-aliased-target", OTHER} <= set(by_model)
    assert by_model[OTHER].requests == ids - (DEFAULT_LABEL_CAP - 1)
    assert sum(f.requests for f in by_model.values()) == ids + 502
    assert sum(f.input_tokens for f in by_model.values()) == 10 * (ids + 502)
    counts = stats.traffic.request_counts
    assert {c.model for c in counts} == set(by_model)
    assert sum(c.requests for c in counts) == ids + 502

    document = json.dumps(metrics_json.metrics(stats))
    assert len(document) < 50_000
    text = prometheus.render(stats)
    series = [line for line in text.splitlines() if line.startswith("ccproxy_requests_total{")]
    assert len(series) == len(by_model)


async def test_few_models_pass_unchanged(scheduler: Scheduler) -> None:
    db = many_models(3)
    stats = snapshot(scheduler, db)
    assert stats.tokens.by_model == db.tokens.by_model
    assert list(stats.traffic.request_counts) == list(db.traffic.request_counts)
