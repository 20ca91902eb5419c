"""The Prometheus renderer: typed families that the reference parser reads back exactly."""

from __future__ import annotations

import math
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from frontdoor.monitoring.prometheus import escape_label, format_value, render
from protos import common_pb2 as pb
from protos import controller_pb2 as cpb


def stats() -> cpb.StatsSnapshot:
    return cpb.StatsSnapshot(
        tokens=cpb.TokenStats(
            totals=cpb.TokenFigures(
                input_tokens=100, output_tokens=40, cache_read_tokens=30, cache_write_tokens=10
            )
        ),
        traffic=cpb.Traffic(
            request_counts=[
                cpb.RequestCount(model="sonnet", worker="1", status="ok", requests=5),
                cpb.RequestCount(model='we"ird\\model', worker="2", status="TIMEOUT", requests=1),
            ],
            errors_by_category={"timeout": 1},
        ),
        queue=cpb.QueueFigures(
            depth_by_source={"a": 2, "b": 1}, in_flight=2, rejected_by_source={"a": 4}, timeouts=1
        ),
        workers=[
            cpb.WorkerInfo(
                name="1",
                mode="cli",
                cli_version="2.1.197",
                state="up",
                in_flight=2,
                served={"live": 7, "warm": 2, "cold": 1},
                rebuilds={"edited": 1, "gone": 0},
                warm=2,
                parked=3,
                running_processes=1,
                idle_rss_bytes=1_073_741_824,
                pool=pb.PoolFigures(
                    target=4,
                    floor=2,
                    ceiling=8,
                    ready=3,
                    starting=1,
                    memory_bytes=1_500_000_000,
                    memory_budget_bytes=4_000_000_000,
                    claimed_starting=6,
                ),
            ),
            cpb.WorkerInfo(
                name="2",
                mode="api",
                state="draining",
                served={"live": 0, "warm": 0, "cold": 0},
                pool=pb.PoolFigures(),  # set but empty: an api worker still has no pool series
            ),
        ],
        affinity=cpb.AffinityFigures(hits=7, misses=2, moves=1),
        processes=cpb.ProcessReport(
            processes=[cpb.CliProcess(pid=1, worker="1"), cpb.CliProcess(pid=2, worker="1")]
        ),
        latency=cpb.Latency(
            ttft=cpb.Histogram(
                count=3,
                sum_s=1.25,
                buckets=[
                    cpb.HistogramBucket(le_s=0.5, count=2),
                    cpb.HistogramBucket(le_s=math.inf, count=3),
                ],
            ),
            duration=cpb.Histogram(buckets=[cpb.HistogramBucket(le_s=math.inf, count=0)]),
        ),
    )


def parsed(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_every_family_parses_with_its_type() -> None:
    families = parsed(render(stats()))
    assert {name: f.type for name, f in families.items()} == {
        "ccproxy_requests": "counter",
        "ccproxy_tokens": "counter",
        "ccproxy_errors": "counter",
        "ccproxy_queue_depth": "gauge",
        "ccproxy_in_flight": "gauge",
        "ccproxy_worker_in_flight": "gauge",
        "ccproxy_worker_state": "gauge",
        "ccproxy_queue_rejected": "counter",
        "ccproxy_queue_timeouts": "counter",
        "ccproxy_affinity": "counter",
        "ccproxy_processes": "gauge",
        "ccproxy_storage_degraded": "gauge",
        "ccproxy_storage_pending_writes": "gauge",
        "ccproxy_storage_dropped": "counter",
        "ccproxy_cli_turns": "counter",
        "ccproxy_cli_rebuilds": "counter",
        "ccproxy_cli_processes": "gauge",
        "ccproxy_cli_idle_rss_bytes": "gauge",
        "ccproxy_pool_target": "gauge",
        "ccproxy_pool_floor": "gauge",
        "ccproxy_pool_ceiling": "gauge",
        "ccproxy_pool_ready": "gauge",
        "ccproxy_pool_starting": "gauge",
        "ccproxy_pool_memory_bytes": "gauge",
        "ccproxy_pool_memory_budget_bytes": "gauge",
        "ccproxy_pool_claimed_starting": "counter",
        "ccproxy_worker_info": "gauge",
        "ccproxy_account_utilization": "gauge",
        "ccproxy_account_resets_at_seconds": "gauge",
        "ccproxy_time_to_first_token_seconds": "histogram",
        "ccproxy_request_duration_seconds": "histogram",
    }


def test_values_and_labels_survive_the_round_trip() -> None:
    families = parsed(render(stats()))
    requests = {
        (s.labels["model"], s.labels["status"]): s.value
        for s in families["ccproxy_requests"].samples
    }
    assert requests == {("sonnet", "ok"): 5, ('we"ird\\model', "TIMEOUT"): 1}
    tokens = {s.labels["kind"]: s.value for s in families["ccproxy_tokens"].samples}
    assert tokens == {"input": 60, "output": 40, "cache_read": 30, "cache_write": 10}
    states = {
        (s.labels["worker"], s.labels["state"])
        for s in families["ccproxy_worker_state"].samples
        if s.value == 1
    }
    assert states == {("1", "up"), ("2", "draining")}
    ttft = {s.name: s.value for s in families["ccproxy_time_to_first_token_seconds"].samples}
    assert ttft["ccproxy_time_to_first_token_seconds_count"] == 3
    assert ttft["ccproxy_time_to_first_token_seconds_sum"] == 1.25
    assert families["ccproxy_queue_depth"].samples[0].value == 3


def test_cli_sessions_per_worker() -> None:
    families = parsed(render(stats()))

    def samples(name: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {tuple(s.labels[k] for k in labels): s.value for s in families[name].samples}

    # api workers hold no CLI process: they have no cli_* series
    assert samples("ccproxy_cli_turns", "worker", "served") == {
        ("1", "live"): 7,
        ("1", "warm"): 2,
        ("1", "cold"): 1,
    }
    assert samples("ccproxy_cli_rebuilds", "worker", "reason") == {
        ("1", "edited"): 1,
        ("1", "gone"): 0,
    }
    assert samples("ccproxy_cli_processes", "worker", "state") == {
        ("1", "warm"): 2,
        ("1", "parked"): 3,
        ("1", "running"): 1,
    }
    assert samples("ccproxy_cli_idle_rss_bytes", "worker") == {("1",): 1_073_741_824}
    assert samples("ccproxy_worker_info", "worker", "mode", "cli_version") == {
        ("1", "cli", "2.1.197"): 1,
        ("2", "api", ""): 1,
    }
    text = render(stats())
    assert 'ccproxy_cli_turns_total{worker="1",served="live"} 7' in text
    assert 'ccproxy_worker_info{worker="1",mode="cli",cli_version="2.1.197"} 1' in text


def test_an_empty_snapshot_still_renders_valid_text() -> None:
    families = parsed(render(cpb.StatsSnapshot()))
    assert families["ccproxy_requests"].samples == []
    assert families["ccproxy_queue_depth"].samples[0].value == 0
    assert families["ccproxy_cli_turns"].samples == []
    assert families["ccproxy_worker_info"].samples == []


def test_label_values_pass_through_the_mask() -> None:
    text = render(stats(), lambda label: label.replace("sonnet", "[redacted]"))
    assert 'model="[redacted]"' in text and "sonnet" not in text
    assert parsed(text)["ccproxy_requests"].samples[0].labels["model"] == "[redacted]"


def test_formatting_helpers() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert (format_value(3.0), format_value(0.25), format_value(float("inf"))) == (
        "3",
        "0.25",
        "+Inf",
    )


def test_pool_sizing_per_cli_worker() -> None:
    families = parsed(render(stats()))
    figures = {
        name: {tuple(s.labels.items()): s.value for s in families[name].samples}
        for name in families
        if name.startswith("ccproxy_pool_")
    }
    one = (("worker", "1"),)
    assert figures == {  # worker 2 is an api worker: no pool series, even with a pool set
        "ccproxy_pool_target": {one: 4},
        "ccproxy_pool_floor": {one: 2},
        "ccproxy_pool_ceiling": {one: 8},
        "ccproxy_pool_ready": {one: 3},
        "ccproxy_pool_starting": {one: 1},
        "ccproxy_pool_memory_bytes": {one: 1_500_000_000},
        "ccproxy_pool_memory_budget_bytes": {one: 4_000_000_000},
        "ccproxy_pool_claimed_starting": {one: 6},
    }
    assert 'ccproxy_pool_claimed_starting_total{worker="1"} 6' in render(stats())


def test_a_cli_worker_without_pool_figures_has_no_pool_series() -> None:
    """A workerd that reports no pool (one from before issue 22): no made-up zeros."""
    snapshot = stats()
    snapshot.workers[0].ClearField("pool")
    families = parsed(render(snapshot))
    assert families["ccproxy_pool_ready"].samples == []
    assert families["ccproxy_pool_target"].type == "gauge"
