"""Pure: the controller's typed `StatsSnapshot` as the JSON of GET /metrics (static/API.md).

The controller sends facts (counts, durations with their units, unix seconds); this module
derives what the seed's JSON shows besides them (totals, rates, lookups, uptime, labels) and
keeps the seed's camelCase shape on the wire. The dashboard (static/api.js) reads this shape;
tests/middle/frontdoor/test_metrics_contract.py holds the two together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from protos import common_pb2 as pb
from protos import controller_pb2 as cpb
from protos import keys_pb2 as kpb

USAGE_KEYS = {"1h": "last1h", "4h": "last4h", "8h": "last8h", "week": "thisWeek"}
"""The controller's usage window -> its key in `tokens.usage`."""
SERVED = ("live", "warm", "cold")
PROCESS_KEYS = ("warm", "parked", "running", "idleRssBytes", "runningRssBytes")
Json = dict[str, Any]


def metrics(stats: cpb.StatsSnapshot) -> Json:
    """The whole /metrics document."""
    traffic = stats.traffic
    return {
        "version": stats.version,
        "generatedAt": stats.generated_at,
        "uptimeS": round(stats.generated_at - stats.started_at, 3),
        "tokens": tokens(stats.tokens),
        "queue": queue(stats.queue, stats.config),
        "processes": processes(stats.processes),
        "workers": workers(stats),
        "errors": errors(traffic),
        "sessions": sessions(stats.workers, stats.processes),
        "affinity": affinity(stats.affinity),
        "rateLimits": rate_limits(stats),
        "latency": {
            "ttft": histogram(stats.latency.ttft),
            "duration": histogram(stats.latency.duration),
        },
        "requestCounts": [
            {"model": c.model, "worker": c.worker, "status": c.status, "requests": c.requests}
            for c in traffic.request_counts
        ],
        "config": config(stats.config),
        "keys": [key_stats(figures) for figures in stats.keys],
        "storage": storage_detail(stats.storage),
    }


# -- tokens ---------------------------------------------------------------------------------


def token_counts(figures: cpb.TokenFigures) -> Json:
    """The seed's token figures: `input` is every prompt token, cached or not."""
    return {
        "input": figures.input_tokens,
        "output": figures.output_tokens,
        "total": figures.input_tokens + figures.output_tokens,
        "requests": figures.requests,
        "errors": figures.errors,
        "cacheRead": figures.cache_read_tokens,
        "cacheWrite": figures.cache_write_tokens,
    }


def tokens(stats: cpb.TokenStats) -> Json:
    return {
        "totals": token_counts(stats.totals),
        "byModel": {model: token_counts(stats.by_model[model]) for model in sorted(stats.by_model)},
        "usage": {
            USAGE_KEYS.get(w.window, w.window): token_counts(w.figures) for w in stats.windows
        },
    }


# -- keys -----------------------------------------------------------------------------------


def key_usage(usage: kpb.KeyUsage) -> Json:
    """A key's figures over one period, in the seed's terms: `input` is every prompt token
    (uncached, cache reads and writes), so `total` is what a token budget counts."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "input": prompt,
        "output": usage.output_tokens,
        "total": prompt + usage.output_tokens,
        "requests": usage.requests,
        "errors": usage.errors,
        "cacheRead": usage.cache_read_tokens,
        "cacheWrite": usage.cache_write_tokens,
        "costUsd": round(usage.cost_usd, 6),
    }


def key_stats(figures: cpb.KeyStats) -> Json:
    """One key (never its secret): usage per period, budgets, per-minute limits, load."""
    limits = figures.limits
    return {
        "id": figures.id,
        "name": figures.name,
        "role": figures.role,
        "weight": figures.weight or 1.0,
        "running": figures.running,
        "queued": figures.queued,
        "lastUsedAt": figures.last_used_at or None,
        "today": key_usage(figures.today),
        "thisWeek": key_usage(figures.this_week),
        "thisMonth": key_usage(figures.this_month),
        "budgets": [
            {
                "period": b.period,
                "unit": b.unit,
                "limit": b.limit,
                "used": b.used,
                "remaining": b.remaining,
                "renewsAt": b.renews_at,
            }
            for b in figures.budgets
        ],
        "limits": {
            kind: {"limit": limit, "remaining": max(remaining, 0), "resetMs": reset_ms}
            for kind, limit, remaining, reset_ms in (
                (
                    "requests",
                    limits.limit_requests,
                    limits.remaining_requests,
                    limits.reset_requests_ms,
                ),
                ("tokens", limits.limit_tokens, limits.remaining_tokens, limits.reset_tokens_ms),
            )
            if limit
        },
    }


# -- queue and processes --------------------------------------------------------------------


def waits(figures: cpb.WaitFigures) -> Json:
    return {
        "count": figures.admitted,
        "avgMs": round(figures.mean_ms, 1) if figures.samples else 0,
        "p50Ms": figures.p50_ms,
        "p95Ms": figures.p95_ms,
        "maxMs": figures.max_ms,
    }


def queue(figures: cpb.QueueFigures, settings: cpb.EffectiveConfig) -> Json:
    return {
        "depth": sum(figures.depth_by_source.values()),
        "bySource": dict(figures.depth_by_source),
        "inFlight": figures.in_flight,
        "maxConcurrent": settings.max_concurrent,
        "maxQueueTotal": settings.max_queue_total,
        "maxQueuePerSource": settings.max_queue_per_source,
        "waits": waits(figures.waits),
        "timeouts": figures.timeouts,
        "rejected": sum(figures.rejected_by_source.values()),
        "rejectedBySource": dict(figures.rejected_by_source),
        "rateLimited": figures.rate_limited,
    }


def _count(keys: Iterable[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for key in keys:
        counted[key] = counted.get(key, 0) + 1
    return counted


def processes(report: cpb.ProcessReport) -> Json:
    listed = report.processes
    return {
        "total": len(listed),
        "stale": sum(1 for p in listed if p.stale),
        "byWorker": _count(p.worker for p in listed),
        "byState": _count(p.state for p in listed),
        "rssBytes": sum(p.rss_bytes for p in listed),
        "unreachableWorkers": list(report.unreachable_workers),
    }


# -- workers --------------------------------------------------------------------------------


def quota(info: cpb.WorkerInfo) -> Json:
    """One entry per window; utilisation null below the warning threshold (no figure)."""
    return {w.window: quota_window(w) for w in info.quota}


def quota_window(w: pb.QuotaWindow) -> Json:
    return {
        "utilization": w.utilization if w.utilization_known else None,
        "resets_at": w.resets_at or None,
        "status": w.status,
        "seen_at": round(w.seen_at, 3),
        "surpassed_threshold": w.surpassed_threshold or None,
    }


def workers(stats: cpb.StatsSnapshot) -> list[Json]:
    """Every configured worker: its live state and its lifetime traffic."""
    traffic = {t.worker: t for t in stats.traffic.workers}
    return [worker(info, traffic.get(info.name)) for info in stats.workers]


def worker(info: cpb.WorkerInfo, lifetime: cpb.WorkerTraffic | None) -> Json:
    return {
        "name": info.name,
        "mode": info.mode,
        "cliVersion": info.cli_version,
        "state": info.state,
        "draining": info.draining,
        "inFlight": info.in_flight,
        "maxConcurrent": info.max_concurrent,
        "requests": lifetime.requests if lifetime else 0,
        "errors": lifetime.errors if lifetime else 0,
        "lastRequestAt": lifetime.last_request_at if lifetime else None,
        "errorsByCategory": dict(lifetime.errors_by_category) if lifetime else {},
        "attempts": info.requests,
        "attemptErrors": info.errors,
        "lastError": info.last_error,
        "coolingUntil": info.cooling_until,
        "coolingReason": info.cooling_reason,
        "coolingBasis": info.cooling_basis,
        "quotaStatus": info.quota_status,
        "quotaResetsAt": info.quota_resets_at,
        "credential": info.credential,
        "address": info.address,
        "quota": quota(info),
    }


def errors(traffic: cpb.Traffic) -> Json:
    return {
        "total": sum(traffic.errors_by_category.values()),
        "byCategory": dict(sorted(traffic.errors_by_category.items())),
        "recent": [
            {
                "ts": e.ts,
                "requestId": e.request_id,
                "worker": e.worker,
                "model": e.model,
                "category": e.category,
                "status": e.status,
            }
            for e in traffic.recent_errors
        ],
    }


# -- sessions -------------------------------------------------------------------------------


def _ordered(counts: Mapping[str, int], first: Iterable[str] = ()) -> dict[str, int]:
    """`first` in its order (zero when absent), then the other keys sorted."""
    shown = {key: counts.get(key, 0) for key in first}
    shown.update({key: n for key, n in sorted(counts.items()) if key not in shown})
    return shown


def cli_pool(info: cpb.WorkerInfo) -> Json | None:
    """A CLI worker's pool sizing as its workerd last said; null for an api worker, or a
    workerd that reports none."""
    if info.mode == "api" or not info.HasField("pool"):
        return None
    figures = info.pool
    return {
        "target": figures.target,
        "floor": figures.floor,
        "ceiling": figures.ceiling,
        "ready": figures.ready,
        "starting": figures.starting,
        "memoryBytes": figures.memory_bytes,
        "memoryBudgetBytes": figures.memory_budget_bytes,
        "claimedStarting": figures.claimed_starting,
    }


def worker_sessions(info: cpb.WorkerInfo, running_rss_bytes: int) -> Json:
    """One worker's `sessions.byWorker` entry (running RSS comes from the process listing:
    the workerd's Status reports only its idle processes')."""
    return {
        "mode": info.mode,
        "cliVersion": info.cli_version,
        "served": _ordered(info.served, SERVED),
        "rebuilds": _ordered(info.rebuilds),
        "warm": info.warm,
        "parked": info.parked,
        "running": info.running_processes,
        "idleRssBytes": info.idle_rss_bytes,
        "runningRssBytes": running_rss_bytes,
        "warmFallbacks": list(info.warm_fallbacks),
        "pool": cli_pool(info),
    }


def sessions(infos: Iterable[cpb.WorkerInfo], report: cpb.ProcessReport) -> Json:
    """Totals over every worker (processes: CLI workers only, an `api` worker's `running`
    counts its API calls), and the per-worker entries."""
    running_rss: dict[str, int] = {}
    for p in report.processes:
        if p.state == "running":
            running_rss[p.worker] = running_rss.get(p.worker, 0) + p.rss_bytes
    by_worker = {i.name: worker_sessions(i, running_rss.get(i.name, 0)) for i in infos}
    served: dict[str, int] = {}
    rebuilds: dict[str, int] = {}
    totals = dict.fromkeys(PROCESS_KEYS, 0)
    for entry in by_worker.values():
        for how, n in entry["served"].items():
            served[how] = served.get(how, 0) + n
        for reason, n in entry["rebuilds"].items():
            rebuilds[reason] = rebuilds.get(reason, 0) + n
        if entry["mode"] != "api":
            for key in PROCESS_KEYS:
                totals[key] += entry[key]
    return {
        "served": _ordered(served, SERVED),
        "rebuilds": _ordered(rebuilds),
        "processes": totals,
        "byWorker": by_worker,
    }


# -- affinity, limits, latency, config ------------------------------------------------------


def affinity(figures: cpb.AffinityFigures) -> Json:
    lookups = figures.hits + figures.misses + figures.moves
    return {
        "hits": figures.hits,
        "misses": figures.misses,
        "moves": figures.moves,
        "lookups": lookups,
        "hitRate": round(figures.hits / lookups, 4) if lookups else 0.0,
        "active": figures.active,
    }


def limits(by_family: Mapping[str, cpb.RateLimit]) -> Json:
    return {f: {"rpm": by_family[f].rpm, "tpm": by_family[f].tpm} for f in sorted(by_family)}


def rate_limits(stats: cpb.StatsSnapshot) -> Json:
    usage = [
        {
            "worker": u.worker,
            "family": u.family,
            "requests": u.requests,
            "rpm": u.limit.rpm,
            "tokens": u.tokens,
            "tpm": u.limit.tpm,
        }
        for u in stats.rate_usage
    ]
    return {"limits": limits(stats.config.rate_limits), "usage": usage}


def bucket_label(bound_s: float) -> str:
    """Prometheus's `le` label: "+Inf" or the bound in seconds, shortest form."""
    return "+Inf" if math.isinf(bound_s) else format(bound_s, "g")


def histogram(figures: cpb.Histogram) -> Json:
    return {
        "count": figures.count,
        "sumS": figures.sum_s,
        "buckets": [{"le": bucket_label(b.le_s), "count": b.count} for b in figures.buckets],
    }


def config(settings: cpb.EffectiveConfig) -> Json:
    """The settings in force (the controller sends no secret)."""
    return {
        "maxConcurrent": settings.max_concurrent,
        "maxQueueTotal": settings.max_queue_total,
        "maxQueuePerSource": settings.max_queue_per_source,
        "queueTimeoutMs": settings.queue_timeout_ms,
        "streamTimeoutMs": settings.stream_timeout_ms,
        "syncTimeoutMs": settings.sync_timeout_ms,
        "maxProcessAgeMs": settings.max_process_age_ms,
        "maxIdleMs": settings.max_idle_ms,
        "primaryWorker": settings.primary_worker,
        "healthIntervalMs": settings.health_interval_ms,
        "affinityTtlMs": settings.affinity_ttl_ms,
        "maxAttempts": settings.max_attempts,
        "overflowToApi": settings.overflow_to_api,
        "retentionDays": settings.retention_days,
        "workerCount": len(settings.workers),
        "workers": [
            {"name": w.name, "mode": w.mode, "maxConcurrent": w.max_concurrent, "local": w.local}
            for w in settings.workers
        ],
        "rateLimits": limits(settings.rate_limits),
        "apiKeyRateLimits": limits(settings.api_key_rate_limits),
        "quotaStrategy": settings.quota_strategy,
        "quotaMoveAt": settings.quota_move_at,
    }


def storage_detail(storage: cpb.StorageStatus) -> Json:
    """Whether the accounting database takes writes, and what waits for it in memory (/metrics
    `storage`, and /health's `storageDetail` for an admin)."""
    return {
        "state": storage.state or "ok",  # "" from a controller without the storage status
        "pendingWrites": storage.pending_writes,
        "ceiling": storage.ceiling,
        "dropped": storage.dropped,
        "lastError": storage.last_error,
        "failingSince": storage.failing_since or None,
    }
