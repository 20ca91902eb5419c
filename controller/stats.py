"""The GetStats snapshot, built from the scheduler's state and the accounting figures.

No I/O here: the Admin servicer gathers the database figures and the process report, then
`build_stats` shapes everything into the JSON the /metrics endpoint and the dashboard show.
Nothing secret is read: worker entries contribute their name, mode and limits only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common import __version__
from controller.config import ControllerConfig
from controller.events import ProxyEvent
from controller.quota import account_status, headroom_of
from controller.scheduler import Scheduler
from controller.sessions import sessions_section, worker_sessions
from protos import controller_pb2

WAIT_SAMPLES = 1000


class LiveStats:
    """Counters since the controller started, fed by the EventBus (a sink: O(1) per event)."""

    def __init__(self) -> None:
        self.waits_ms: deque[int] = deque(maxlen=WAIT_SAMPLES)
        self.admitted = 0
        self.timeouts = 0
        self.rate_limited = 0

    def observe(self, event: ProxyEvent) -> None:
        if event.type == "started":
            self.admitted += 1
            self.waits_ms.append(int(event.data.get("waited_ms") or 0))
        elif event.type == "error":
            status = event.data.get("status")
            if status == "QUEUE_TIMEOUT":
                self.timeouts += 1
            elif status == "RATE_LIMITED" and not event.data.get("worker"):
                self.rate_limited += 1  # refused at admission: never reached a worker

    def waits(self) -> dict[str, Any]:
        ordered = sorted(self.waits_ms)
        return {
            "count": self.admitted,
            "avgMs": round(sum(ordered) / len(ordered), 1) if ordered else 0,
            "p50Ms": percentile(ordered, 0.5),
            "p95Ms": percentile(ordered, 0.95),
            "maxMs": ordered[-1] if ordered else 0,
        }


def percentile(ordered: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of sorted values; 0 for none."""
    if not ordered:
        return 0
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class DbFigures:
    """What the accounting database contributes to a snapshot."""

    tokens: dict[str, Any]
    breakdown: dict[str, Any]
    latency: dict[str, Any]


def worker_infos(scheduler: Scheduler) -> list[controller_pb2.WorkerInfo]:
    """Every worker as ListWorkers shows it, cooldowns included."""
    now = scheduler.wall()
    infos = []
    for name, handle in scheduler.pool.handles.items():
        info = handle.info()
        cooldown = scheduler.cooldowns.of(name)
        if cooldown.active(now):
            info.state = "cooling" if handle.up else info.state
            info.cooling_until = int(cooldown.until)
            info.cooling_reason = cooldown.reason
            info.cooling_basis = cooldown.basis
        windows = scheduler.quota.windows(name, now)
        info.quota.extend(w.to_pb() for w in windows)
        info.quota_status = account_status(windows)
        info.quota_resets_at = int(headroom_of(windows).resets_at)
        infos.append(info)
    return infos


def quota_json(info: controller_pb2.WorkerInfo) -> dict[str, Any]:
    """The `quota` object of /metrics: one entry per window, utilisation null when below
    warning (the CLI gives no figure there)."""
    return {
        w.window: {
            "utilization": w.utilization if w.utilization_known else None,
            "resets_at": w.resets_at or None,
            "status": w.status,
            "seen_at": round(w.seen_at, 3),
            "surpassed_threshold": w.surpassed_threshold or None,
        }
        for w in info.quota
    }


def build_stats(
    scheduler: Scheduler,
    live: LiveStats,
    db: DbFigures,
    processes: controller_pb2.ProcessReport,
    started_at: float,
) -> dict[str, Any]:
    now = scheduler.wall()
    return {
        "version": __version__,
        "generatedAt": now,
        "uptimeS": round(now - started_at, 3),
        "tokens": db.tokens,
        "queue": _queue(scheduler, live),
        "processes": _processes(processes),
        "workers": _workers(scheduler, db.breakdown["traffic"]),
        "errors": {
            "total": sum(db.breakdown["errorsByCategory"].values()),
            "byCategory": db.breakdown["errorsByCategory"],
            "recent": db.breakdown["recentErrors"],
        },
        "sessions": _sessions(scheduler, processes),
        "affinity": _affinity(scheduler),
        "rateLimits": _rate_limits(scheduler),
        "latency": db.latency,
        "requestCounts": db.breakdown["requestCounts"],
        "config": effective_config(scheduler.config),
    }


def _queue(scheduler: Scheduler, live: LiveStats) -> dict[str, Any]:
    config = scheduler.config
    return {
        "depth": len(scheduler.queue),
        "bySource": scheduler.queue.depth_by_source(),
        "inFlight": scheduler.in_flight,
        "maxConcurrent": config.max_concurrent,
        "maxQueueTotal": config.max_queue_total,
        "maxQueuePerSource": config.max_queue_per_source,
        "waits": live.waits(),
        "timeouts": live.timeouts,
        "rejected": sum(scheduler.rejected.values()),
        "rejectedBySource": dict(scheduler.rejected),
        "rateLimited": live.rate_limited,
    }


def _processes(report: controller_pb2.ProcessReport) -> dict[str, Any]:
    by_worker: dict[str, int] = {}
    by_state: dict[str, int] = {}
    for process in report.processes:
        by_worker[process.worker] = by_worker.get(process.worker, 0) + 1
        by_state[process.state] = by_state.get(process.state, 0) + 1
    return {
        "total": len(report.processes),
        "stale": sum(1 for p in report.processes if p.stale),
        "byWorker": by_worker,
        "byState": by_state,
        "rssBytes": sum(p.rss_bytes for p in report.processes),
        "unreachableWorkers": list(report.unreachable_workers),
    }


def _sessions(scheduler: Scheduler, report: controller_pb2.ProcessReport) -> dict[str, Any]:
    """How CLI turns were served and what each worker holds; running RSS from the listing."""
    running_rss: dict[str, int] = {}
    for process in report.processes:
        if process.state == "running":
            running_rss[process.worker] = running_rss.get(process.worker, 0) + process.rss_bytes
    return sessions_section(
        {
            name: worker_sessions(
                handle.spec.mode, handle.cli_pool, handle.sessions, running_rss.get(name, 0)
            )
            for name, handle in scheduler.pool.handles.items()
        }
    )


def _workers(scheduler: Scheduler, traffic: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    workers = []
    for info in worker_infos(scheduler):
        lifetime = traffic.get(info.name, {})
        workers.append(
            {
                "name": info.name,
                "mode": info.mode,
                "cliVersion": info.cli_version,
                "state": info.state,
                "draining": info.draining,
                "inFlight": info.in_flight,
                "maxConcurrent": info.max_concurrent,
                "requests": lifetime.get("requests", 0),
                "errors": lifetime.get("errors", 0),
                "lastRequestAt": lifetime.get("lastRequestAt"),
                "errorsByCategory": lifetime.get("errorsByCategory", {}),
                "attempts": info.requests,
                "attemptErrors": info.errors,
                "lastError": info.last_error,
                "coolingUntil": info.cooling_until,
                "coolingReason": info.cooling_reason,
                "coolingBasis": info.cooling_basis,
                "quotaStatus": info.quota_status,
                "quotaResetsAt": info.quota_resets_at,
                "credential": info.credential,
                "quota": quota_json(info),
            }
        )
    return workers


def _affinity(scheduler: Scheduler) -> dict[str, Any]:
    stats = scheduler.affinity.stats
    lookups = stats.hits + stats.misses + stats.moves
    return {
        "hits": stats.hits,
        "misses": stats.misses,
        "moves": stats.moves,
        "lookups": lookups,
        "hitRate": round(stats.hits / lookups, 4) if lookups else 0.0,
        "active": scheduler.affinity.active(scheduler.clock()),
    }


def _rate_limits(scheduler: Scheduler) -> dict[str, Any]:
    limiter = scheduler.limiter
    usage = []
    for (worker, family), (requests, tokens) in sorted(limiter.usage(scheduler.clock()).items()):
        limit = limiter.window(worker, family).limit  # only paced windows exist
        usage.append(
            {
                "worker": worker,
                "family": family,
                "requests": requests,
                "rpm": limit.rpm,
                "tokens": tokens,
                "tpm": limit.tpm,
            }
        )
    return {"limits": _limits(scheduler.config), "usage": usage}


def _limits(config: ControllerConfig) -> dict[str, Any]:
    return {f: {"rpm": lim.rpm, "tpm": lim.tpm} for f, lim in sorted(config.rate_limits.items())}


def effective_config(config: ControllerConfig) -> dict[str, Any]:
    """The settings in force, without secrets (no tokens, keys, env values or binaries)."""
    return {
        "maxConcurrent": config.max_concurrent,
        "maxQueueTotal": config.max_queue_total,
        "maxQueuePerSource": config.max_queue_per_source,
        "queueTimeoutMs": config.queue_timeout_ms,
        "streamTimeoutMs": config.stream_timeout_ms,
        "syncTimeoutMs": config.sync_timeout_ms,
        "maxProcessAgeMs": config.max_process_age_ms,
        "maxIdleMs": config.max_idle_ms,
        "primaryWorker": config.primary_worker,
        "healthIntervalMs": config.health_interval_ms,
        "affinityTtlMs": int(config.affinity_ttl_s * 1000),
        "maxAttempts": config.max_attempts,
        "overflowToApi": config.overflow_to_api,
        "retentionDays": config.retention_days,
        "workerCount": len(config.workers),
        "workers": [
            {"name": w.name, "mode": w.mode, "maxConcurrent": w.max_concurrent, "local": w.is_local}
            for w in config.workers
        ],
        "rateLimits": _limits(config),
        "apiKeyRateLimits": {
            f: {"rpm": lim.rpm, "tpm": lim.tpm}
            for f, lim in sorted(config.api_key_rate_limits.items())
        },
        "quotaStrategy": config.quota_strategy,
        "quotaMoveAt": config.quota_move_at,
    }
