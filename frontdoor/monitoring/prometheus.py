"""Pure: the GetStats snapshot as Prometheus text exposition format 0.0.4.

Built by hand (a few dozen lines) rather than with prometheus_client: the figures already
exist as one typed snapshot, so there is no registry to keep, and no runtime dependency to
add. Label values pass through `mask` (the caller's secret masking) before escaping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

from frontdoor.monitoring.metrics_json import bucket_label, sessions
from protos import controller_pb2 as cpb

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WORKER_STATES = ("up", "down", "starting", "draining", "cooling")
CLI_PROCESS_STATES = ("warm", "parked", "running")
Sample = tuple[str, Mapping[str, str], float]  # name suffix, labels, value
Mask = Callable[[str], str]


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _unmasked(value: str) -> str:
    return value


def family(
    name: str, kind: str, help_text: str, samples: Iterable[Sample], mask: Mask = _unmasked
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for suffix, labels, value in samples:
        rendered = ",".join(f'{key}="{escape_label(mask(str(v)))}"' for key, v in labels.items())
        label_text = f"{{{rendered}}}" if rendered else ""
        lines.append(f"{name}{suffix}{label_text} {format_value(value)}")
    return lines


def histogram(name: str, help_text: str, figures: cpb.Histogram) -> list[str]:
    samples: list[Sample] = [
        ("_bucket", {"le": bucket_label(b.le_s)}, b.count) for b in figures.buckets
    ]
    samples += [("_sum", {}, figures.sum_s), ("_count", {}, figures.count)]
    return family(name, "histogram", help_text, samples)


def _tokens(totals: cpb.TokenFigures) -> list[Sample]:
    cache_read, cache_write = totals.cache_read_tokens, totals.cache_write_tokens
    kinds = {
        "input": totals.input_tokens - cache_read - cache_write,
        "output": totals.output_tokens,
        "cache_read": cache_read,
        "cache_write": cache_write,
    }
    return [("", {"kind": kind}, value) for kind, value in kinds.items()]


def _traffic(stats: cpb.StatsSnapshot, mask: Mask) -> list[str]:
    requests: list[Sample] = [
        ("", {"model": c.model, "worker": c.worker, "status": c.status}, c.requests)
        for c in stats.traffic.request_counts
    ]
    errors: list[Sample] = [
        ("", {"category": category}, n)
        for category, n in sorted(stats.traffic.errors_by_category.items())
    ]
    tokens = _tokens(stats.tokens.totals)
    return [
        *family("ccproxy_requests_total", "counter", "Finished requests.", requests, mask),
        *family("ccproxy_tokens_total", "counter", "Tokens by kind (input: uncached).", tokens),
        *family("ccproxy_errors_total", "counter", "Failed requests by category.", errors, mask),
    ]


def _gauge(name: str, help_text: str, value: float) -> list[str]:
    return family(name, "gauge", help_text, [("", {}, value)])


def _counter(name: str, help_text: str, value: float) -> list[str]:
    return family(name, "counter", help_text, [("", {}, value)])


def _workers(stats: cpb.StatsSnapshot, mask: Mask) -> list[str]:
    workers = stats.workers
    states: list[Sample] = [
        ("", {"worker": w.name, "state": state}, 1 if w.state == state else 0)
        for w in workers
        for state in WORKER_STATES
    ]
    in_flight: list[Sample] = [("", {"worker": w.name}, w.in_flight) for w in workers]
    return [
        *family("ccproxy_worker_in_flight", "gauge", "Running per worker.", in_flight, mask),
        *family(
            "ccproxy_worker_state", "gauge", "1 for each worker's current state.", states, mask
        ),
    ]


def _load(stats: cpb.StatsSnapshot, mask: Mask) -> list[str]:
    queue, affinity = stats.queue, stats.affinity
    decisions: list[Sample] = [
        ("", {"result": "hit"}, affinity.hits),
        ("", {"result": "miss"}, affinity.misses),
        ("", {"result": "move"}, affinity.moves),
    ]
    rejected = sum(queue.rejected_by_source.values())
    return [
        *_gauge("ccproxy_queue_depth", "Requests waiting.", sum(queue.depth_by_source.values())),
        *_gauge("ccproxy_in_flight", "Requests running.", queue.in_flight),
        *_workers(stats, mask),
        *_counter("ccproxy_queue_rejected_total", "Refused: queue full (since start).", rejected),
        *_counter("ccproxy_queue_timeouts_total", "Waited too long (since start).", queue.timeouts),
        *family(
            "ccproxy_affinity_total", "counter", "Affinity decisions (since start).", decisions
        ),
        *_gauge("ccproxy_processes", "Live CLI children.", len(stats.processes.processes)),
        *_storage(stats.storage),
    ]


def _storage(status: cpb.StorageStatus) -> list[str]:
    degraded = int(status.state == "degraded")
    return [
        *_gauge("ccproxy_storage_degraded", "1 while database writes fail.", degraded),
        *_gauge(
            "ccproxy_storage_pending_writes",
            "Events kept in memory for the database.",
            status.pending_writes,
        ),
        *_counter(
            "ccproxy_storage_dropped_total",
            "Kept events dropped past the ceiling (since start).",
            status.dropped,
        ),
    ]


POOL_FAMILIES = (
    ("target", "ccproxy_pool_target", "gauge", "Ready CLI processes a pool aims to keep now."),
    ("floor", "ccproxy_pool_floor", "gauge", "The least a pool keeps ready (WARM_PROCESSES)."),
    ("ceiling", "ccproxy_pool_ceiling", "gauge", "The most ready a pool's memory budget allows."),
    ("ready", "ccproxy_pool_ready", "gauge", "Ready (warm) CLI processes waiting for a request."),
    (
        "starting",
        "ccproxy_pool_starting",
        "gauge",
        "CLI processes starting (a request may claim one).",
    ),
    (
        "memoryBytes",
        "ccproxy_pool_memory_bytes",
        "gauge",
        "Memory of all a worker's CLI processes (PSS where readable, else RSS).",
    ),
    (
        "memoryBudgetBytes",
        "ccproxy_pool_memory_budget_bytes",
        "gauge",
        "The memory budget of a worker's CLI processes.",
    ),
    (
        "claimedStarting",
        "ccproxy_pool_claimed_starting_total",
        "counter",
        "Requests served by a CLI process still starting (since its workerd started).",
    ),
)
"""Per CLI worker, from its `sessions.byWorker.*.pool` figure in /metrics: name, kind, help."""


def _session_samples(stats: cpb.StatsSnapshot) -> dict[str, list[Sample]]:
    """Per CLI worker (not `api` ones): turns, rebuilds, processes by state, idle memory, and
    its pool's figures (where its workerd reports them)."""
    by_worker = sessions(stats.workers, stats.processes)["byWorker"]
    cli = [(name, entry) for name, entry in by_worker.items() if entry["mode"] != "api"]
    pools = [(name, entry["pool"]) for name, entry in cli if entry["pool"] is not None]
    return {
        **{
            figure: [("", {"worker": name}, pool[figure]) for name, pool in pools]
            for figure, _, _, _ in POOL_FAMILIES
        },
        "turns": [
            ("", {"worker": name, "served": how}, n)
            for name, entry in cli
            for how, n in entry["served"].items()
        ],
        "rebuilds": [
            ("", {"worker": name, "reason": reason}, n)
            for name, entry in cli
            for reason, n in entry["rebuilds"].items()
        ],
        "processes": [
            ("", {"worker": name, "state": state}, entry[state])
            for name, entry in cli
            for state in CLI_PROCESS_STATES
        ],
        "idle_rss": [("", {"worker": name}, entry["idleRssBytes"]) for name, entry in cli],
    }


def _sessions(stats: cpb.StatsSnapshot, mask: Mask) -> list[str]:
    samples = _session_samples(stats)
    info: list[Sample] = [
        ("", {"worker": w.name, "mode": w.mode, "cli_version": w.cli_version}, 1)
        for w in stats.workers
    ]
    return [
        *family(
            "ccproxy_cli_turns_total",
            "counter",
            "CLI turns by how they were served: live, warm, cold (since start).",
            samples["turns"],
            mask,
        ),
        *family(
            "ccproxy_cli_rebuilds_total",
            "counter",
            "Conversations rebuilt instead of continued, by reason (since start).",
            samples["rebuilds"],
            mask,
        ),
        *family(
            "ccproxy_cli_processes",
            "gauge",
            "CLI processes per worker: warm, parked, running.",
            samples["processes"],
            mask,
        ),
        *family(
            "ccproxy_cli_idle_rss_bytes",
            "gauge",
            "Memory of a worker's warm and parked CLI processes.",
            samples["idle_rss"],
            mask,
        ),
        *_pool(samples, mask),
        *family(
            "ccproxy_worker_info", "gauge", "1 per worker: its mode and CLI version.", info, mask
        ),
    ]


def _pool(samples: Mapping[str, list[Sample]], mask: Mask) -> list[str]:
    lines: list[str] = []
    for figure, name, kind, help_text in POOL_FAMILIES:
        lines += family(name, kind, help_text, samples[figure], mask)
    return lines


def _quota(stats: cpb.StatsSnapshot, mask: Mask) -> list[str]:
    """Each account's windows: utilisation where a figure is known, and the reset time."""
    windows = [(w.name, q) for w in stats.workers for q in sorted(w.quota, key=lambda q: q.window)]
    utilization: list[Sample] = [
        ("", {"worker": name, "window": q.window}, q.utilization)
        for name, q in windows
        if q.utilization_known
    ]
    resets: list[Sample] = [
        ("", {"worker": name, "window": q.window}, q.resets_at)
        for name, q in windows
        if q.resets_at
    ]
    return [
        *family(
            "ccproxy_account_utilization",
            "gauge",
            "Utilisation (0..1) of each account's usage window, as last reported.",
            utilization,
            mask,
        ),
        *family(
            "ccproxy_account_resets_at_seconds",
            "gauge",
            "When each account's usage window resets (unix seconds).",
            resets,
            mask,
        ),
    ]


KEY_PERIODS = (("day", "today"), ("week", "this_week"), ("month", "this_month"))


def _key_samples(keys: Iterable[cpb.KeyStats]) -> dict[str, list[Sample]]:
    """Per key (label: its name; one series per key and period, so the count is bounded by the
    number of keys): usage figures by period, budgets, load."""
    samples: dict[str, list[Sample]] = {
        name: [] for name in ("info", "tokens", "requests", "errors", "cost", "used", "limit")
    }
    samples |= {"running": [], "queued": []}
    for key in keys:
        samples["info"].append(("", {"key": key.name, "role": key.role}, 1))
        for period, field in KEY_PERIODS:
            usage, labels = getattr(key, field), {"key": key.name, "period": period}
            total = (
                usage.input_tokens
                + usage.output_tokens
                + usage.cache_read_tokens
                + usage.cache_write_tokens
            )
            samples["tokens"].append(("", labels, total))
            samples["requests"].append(("", labels, usage.requests))
            samples["errors"].append(("", labels, usage.errors))
            samples["cost"].append(("", labels, usage.cost_usd))
        for budget in key.budgets:
            labels = {"key": key.name, "period": budget.period, "unit": budget.unit}
            samples["used"].append(("", labels, budget.used))
            samples["limit"].append(("", labels, budget.limit))
        samples["running"].append(("", {"key": key.name}, key.running))
        samples["queued"].append(("", {"key": key.name}, key.queued))
    return samples


KEY_FAMILIES = (
    ("info", "ccproxy_key_info", "1 per key that is not revoked: its role."),
    (
        "tokens",
        "ccproxy_key_tokens",
        "Tokens a key used this UTC day, ISO week, month (all kinds).",
    ),
    ("requests", "ccproxy_key_requests", "Requests a key made this day, week, month."),
    ("errors", "ccproxy_key_errors", "Failed requests of a key this day, week, month."),
    ("cost", "ccproxy_key_cost_usd", "Estimated cost of a key's api-worker requests this period."),
    ("used", "ccproxy_key_budget_used", "What a key's budget counts so far this period."),
    ("limit", "ccproxy_key_budget_limit", "A key's budget for the period."),
    ("running", "ccproxy_key_running", "A key's requests running now."),
    ("queued", "ccproxy_key_queued", "A key's requests waiting in the fair queue."),
)


def _keys(stats: cpb.StatsSnapshot, mask: Mask) -> list[str]:
    """Gauges: a period's figures start again at its renewal, so they are not counters. A
    deployment without keys gets none of these families (its output is as before keys)."""
    if not stats.keys:
        return []
    samples = _key_samples(stats.keys)
    lines: list[str] = []
    for kind, name, help_text in KEY_FAMILIES:
        lines += family(name, "gauge", help_text, samples[kind], mask)
    return lines


def render(stats: cpb.StatsSnapshot, mask: Mask = _unmasked) -> str:
    lines = [
        *_traffic(stats, mask),
        *_load(stats, mask),
        *_sessions(stats, mask),
        *_quota(stats, mask),
        *_keys(stats, mask),
        *histogram(
            "ccproxy_time_to_first_token_seconds",
            "Time from arrival to first output.",
            stats.latency.ttft,
        ),
        *histogram(
            "ccproxy_request_duration_seconds",
            "Time from arrival to the end of the request.",
            stats.latency.duration,
        ),
    ]
    return "\n".join(lines) + "\n"
