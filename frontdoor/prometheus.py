"""Pure: the GetStats snapshot as Prometheus text exposition format 0.0.4.

Built by hand (a few dozen lines) rather than with prometheus_client: the figures already
exist as one snapshot, so there is no registry to keep, and no runtime dependency to add.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WORKER_STATES = ("up", "down", "starting", "draining", "cooling")
CLI_PROCESS_STATES = ("warm", "parked", "running")
Sample = tuple[str, Mapping[str, str], float]  # name suffix, labels, value


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


def family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for suffix, labels, value in samples:
        rendered = ",".join(f'{key}="{escape_label(str(v))}"' for key, v in labels.items())
        label_text = f"{{{rendered}}}" if rendered else ""
        lines.append(f"{name}{suffix}{label_text} {format_value(value)}")
    return lines


def histogram(name: str, help_text: str, figures: Mapping[str, Any]) -> list[str]:
    samples: list[Sample] = [
        ("_bucket", {"le": str(bucket["le"])}, bucket["count"])
        for bucket in figures.get("buckets", [])
    ]
    samples += [("_sum", {}, figures.get("sumS", 0)), ("_count", {}, figures.get("count", 0))]
    return family(name, "histogram", help_text, samples)


def _tokens(totals: Mapping[str, Any]) -> list[Sample]:
    cache_read, cache_write = totals.get("cacheRead", 0), totals.get("cacheWrite", 0)
    uncached = totals.get("input", 0) - cache_read - cache_write
    kinds = {
        "input": uncached,
        "output": totals.get("output", 0),
        "cache_read": cache_read,
        "cache_write": cache_write,
    }
    return [("", {"kind": kind}, value) for kind, value in kinds.items()]


def _worker_samples(workers: list[Mapping[str, Any]]) -> tuple[list[Sample], list[Sample]]:
    states: list[Sample] = [
        ("", {"worker": w["name"], "state": state}, 1 if w.get("state") == state else 0)
        for w in workers
        for state in WORKER_STATES
    ]
    in_flight: list[Sample] = [("", {"worker": w["name"]}, w.get("inFlight", 0)) for w in workers]
    return states, in_flight


def _traffic(stats: Mapping[str, Any]) -> list[str]:
    requests: list[Sample] = [
        ("", {"model": c["model"], "worker": c["worker"], "status": c["status"]}, c["requests"])
        for c in stats.get("requestCounts", [])
    ]
    errors: list[Sample] = [
        ("", {"category": category}, n)
        for category, n in sorted(stats.get("errors", {}).get("byCategory", {}).items())
    ]
    tokens = _tokens(stats.get("tokens", {}).get("totals", {}))
    return [
        *family("ccproxy_requests_total", "counter", "Finished requests.", requests),
        *family("ccproxy_tokens_total", "counter", "Tokens by kind (input: uncached).", tokens),
        *family("ccproxy_errors_total", "counter", "Failed requests by category.", errors),
    ]


def _gauge(name: str, help_text: str, value: float) -> list[str]:
    return family(name, "gauge", help_text, [("", {}, value)])


def _counter(name: str, help_text: str, value: float) -> list[str]:
    return family(name, "counter", help_text, [("", {}, value)])


def _load(stats: Mapping[str, Any]) -> list[str]:
    queue = stats.get("queue", {})
    affinity = stats.get("affinity", {})
    states, worker_in_flight = _worker_samples(stats.get("workers", []))
    decisions: list[Sample] = [
        ("", {"result": result}, affinity.get(key, 0))
        for result, key in (("hit", "hits"), ("miss", "misses"), ("move", "moves"))
    ]
    processes = stats.get("processes", {}).get("total", 0)
    return [
        *_gauge("ccproxy_queue_depth", "Requests waiting.", queue.get("depth", 0)),
        *_gauge("ccproxy_in_flight", "Requests running.", queue.get("inFlight", 0)),
        *family("ccproxy_worker_in_flight", "gauge", "Running per worker.", worker_in_flight),
        *family("ccproxy_worker_state", "gauge", "1 for each worker's current state.", states),
        *_counter(
            "ccproxy_queue_rejected_total",
            "Refused: queue full (since start).",
            queue.get("rejected", 0),
        ),
        *_counter(
            "ccproxy_queue_timeouts_total",
            "Waited too long (since start).",
            queue.get("timeouts", 0),
        ),
        *family(
            "ccproxy_affinity_total", "counter", "Affinity decisions (since start).", decisions
        ),
        *_gauge("ccproxy_processes", "Live CLI children.", processes),
    ]


def _cli_workers(stats: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, sessions entry) of every worker that runs CLI processes (not `api` ones)."""
    by_worker: Mapping[str, Mapping[str, Any]] = stats.get("sessions", {}).get("byWorker", {})
    return [(name, entry) for name, entry in by_worker.items() if entry.get("mode") != "api"]


def _sessions(stats: Mapping[str, Any]) -> list[str]:
    workers = _cli_workers(stats)
    turns: list[Sample] = [
        ("", {"worker": name, "served": how}, n)
        for name, entry in workers
        for how, n in entry.get("served", {}).items()
    ]
    rebuilds: list[Sample] = [
        ("", {"worker": name, "reason": reason}, n)
        for name, entry in workers
        for reason, n in entry.get("rebuilds", {}).items()
    ]
    processes: list[Sample] = [
        ("", {"worker": name, "state": state}, entry.get(state, 0))
        for name, entry in workers
        for state in CLI_PROCESS_STATES
    ]
    idle_rss: list[Sample] = [
        ("", {"worker": name}, entry.get("idleRssBytes", 0)) for name, entry in workers
    ]
    info: list[Sample] = [
        (
            "",
            {
                "worker": w["name"],
                "mode": w.get("mode", ""),
                "cli_version": w.get("cliVersion", ""),
            },
            1,
        )
        for w in stats.get("workers", [])
    ]
    return [
        *family(
            "ccproxy_cli_turns_total",
            "counter",
            "CLI turns by how they were served: live, warm, cold (since start).",
            turns,
        ),
        *family(
            "ccproxy_cli_rebuilds_total",
            "counter",
            "Conversations rebuilt instead of continued, by reason (since start).",
            rebuilds,
        ),
        *family(
            "ccproxy_cli_processes",
            "gauge",
            "CLI processes per worker: warm, parked, running.",
            processes,
        ),
        *family(
            "ccproxy_cli_idle_rss_bytes",
            "gauge",
            "Memory of a worker's warm and parked CLI processes.",
            idle_rss,
        ),
        *family("ccproxy_worker_info", "gauge", "1 per worker: its mode and CLI version.", info),
    ]


def _quota(stats: Mapping[str, Any]) -> list[str]:
    """Each account's windows: utilisation where a figure is known, and the reset time."""
    windows = [
        (w["name"], window, figures)
        for w in stats.get("workers", [])
        for window, figures in sorted((w.get("quota") or {}).items())
    ]
    utilization: list[Sample] = [
        ("", {"worker": name, "window": window}, figures["utilization"])
        for name, window, figures in windows
        if figures.get("utilization") is not None
    ]
    resets: list[Sample] = [
        ("", {"worker": name, "window": window}, figures["resets_at"])
        for name, window, figures in windows
        if figures.get("resets_at")
    ]
    return [
        *family(
            "ccproxy_account_utilization",
            "gauge",
            "Utilisation (0..1) of each account's usage window, as last reported.",
            utilization,
        ),
        *family(
            "ccproxy_account_resets_at_seconds",
            "gauge",
            "When each account's usage window resets (unix seconds).",
            resets,
        ),
    ]


def render(stats: Mapping[str, Any]) -> str:
    latency = stats.get("latency", {})
    lines = [
        *_traffic(stats),
        *_load(stats),
        *_sessions(stats),
        *_quota(stats),
        *histogram(
            "ccproxy_time_to_first_token_seconds",
            "Time from arrival to first output.",
            latency.get("ttft", {}),
        ),
        *histogram(
            "ccproxy_request_duration_seconds",
            "Time from arrival to the end of the request.",
            latency.get("duration", {}),
        ),
    ]
    return "\n".join(lines) + "\n"
