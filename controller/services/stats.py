"""The GetStats snapshot: facts from the scheduler's state and the accounting figures.

No I/O here: the Admin servicer gathers the database figures and the process report, then
`build_stats` puts everything into a typed `StatsSnapshot`. It carries facts only (counts,
durations with their units, unix times); the frontdoor derives totals and rates and shapes the
JSON of /metrics and the Prometheus text. Nothing secret is read: worker entries contribute
their name, mode and limits only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from common import __version__
from common.models import BUILTIN_ALIASES, FAMILIES, FAMILY_MODELS, LISTED_MODELS, MODEL_IDENTITIES
from common.top_labels import OTHER, fold, shown_labels
from controller.config import ControllerConfig
from controller.events.bus import ProxyEvent
from controller.events.kinds import Failed, Started
from controller.quota.windows import account_status, headroom_of
from controller.scheduling.scheduler import Scheduler
from protos import controller_pb2

WAIT_SAMPLES = 1000
KNOWN_MODELS = frozenset(
    (*LISTED_MODELS, *FAMILIES, *FAMILY_MODELS.values(), *BUILTIN_ALIASES, *MODEL_IDENTITIES)
)
"""Model names that always have a series of their own, whatever their traffic."""
TOKEN_FIELDS = tuple(f.name for f in controller_pb2.TokenFigures.DESCRIPTOR.fields)


class LiveStats:
    """Counters since the controller started, fed by the EventBus (a sink: O(1) per event)."""

    def __init__(self) -> None:
        self.waits_ms: deque[int] = deque(maxlen=WAIT_SAMPLES)
        self.admitted = 0
        self.timeouts = 0
        self.rate_limited = 0

    def observe(self, event: ProxyEvent) -> None:
        match event.payload:
            case Started(waited_ms=waited_ms):
                self.admitted += 1
                self.waits_ms.append(waited_ms)
            case Failed(status="QUEUE_TIMEOUT"):
                self.timeouts += 1
            case Failed(status="RATE_LIMITED", worker=""):
                self.rate_limited += 1  # refused at admission: never reached a worker

    def waits(self) -> controller_pb2.WaitFigures:
        ordered = sorted(self.waits_ms)
        return controller_pb2.WaitFigures(
            admitted=self.admitted,
            samples=len(ordered),
            mean_ms=sum(ordered) / len(ordered) if ordered else 0.0,
            p50_ms=percentile(ordered, 0.5),
            p95_ms=percentile(ordered, 0.95),
            max_ms=ordered[-1] if ordered else 0,
        )


def percentile(ordered: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of sorted values; 0 for none."""
    if not ordered:
        return 0
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class DbFigures:
    """What the accounting database contributes to a snapshot."""

    tokens: controller_pb2.TokenStats
    traffic: controller_pb2.Traffic
    latency: controller_pb2.Latency


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


def build_stats(
    scheduler: Scheduler,
    live: LiveStats,
    db: DbFigures,
    processes: controller_pb2.ProcessReport,
    started_at: float,
) -> controller_pb2.StatsSnapshot:
    config = scheduler.config
    shown = shown_models(db, config.metrics_label_cap, KNOWN_MODELS | config.model_labels)
    return controller_pb2.StatsSnapshot(
        version=__version__,
        generated_at=scheduler.wall(),
        started_at=started_at,
        tokens=folded_tokens(db.tokens, shown),
        queue=_queue(scheduler, live),
        processes=processes,
        workers=worker_infos(scheduler),
        traffic=folded_traffic(db.traffic, shown),
        affinity=_affinity(scheduler),
        rate_usage=_rate_usage(scheduler),
        latency=db.latency,
        config=effective_config(scheduler.config),
    )


# -- models: the known ones and the busiest others, the rest as "other" (common/top_labels.py) --


def shown_models(db: DbFigures, cap: int, always: frozenset[str]) -> set[str]:
    """The model ids with series of their own; any id a client sends is recorded, so the
    lifetime totals can name any number of them."""
    requests = {model: figures.requests for model, figures in db.tokens.by_model.items()}
    for count in db.traffic.request_counts:
        requests.setdefault(count.model, count.requests)
    return shown_labels(requests, cap, always)


def folded_tokens(tokens: controller_pb2.TokenStats, shown: set[str]) -> controller_pb2.TokenStats:
    if shown.issuperset(tokens.by_model):
        return tokens
    folded = controller_pb2.TokenStats(totals=tokens.totals, windows=tokens.windows)
    other = [0] * len(TOKEN_FIELDS)
    for model, figures in tokens.by_model.items():
        if model in shown:
            folded.by_model[model].CopyFrom(figures)
        else:
            for n, name in enumerate(TOKEN_FIELDS):
                other[n] += getattr(figures, name)
    into = folded.by_model[OTHER]  # a model a client named "other" adds to it
    for n, name in enumerate(TOKEN_FIELDS):
        setattr(into, name, getattr(into, name) + other[n])
    return folded


def folded_traffic(traffic: controller_pb2.Traffic, shown: set[str]) -> controller_pb2.Traffic:
    if all(c.model in shown for c in traffic.request_counts):
        return traffic
    requests: dict[tuple[str, str, str], int] = {}
    for c in traffic.request_counts:
        labels = (fold(c.model, shown), c.worker, c.status)
        requests[labels] = requests.get(labels, 0) + c.requests
    folded = controller_pb2.Traffic(
        workers=traffic.workers,
        errors_by_category=traffic.errors_by_category,
        recent_errors=traffic.recent_errors,
    )
    for (model, worker, status), n in sorted(requests.items()):
        folded.request_counts.add(model=model, worker=worker, status=status, requests=n)
    return folded


def _queue(scheduler: Scheduler, live: LiveStats) -> controller_pb2.QueueFigures:
    return controller_pb2.QueueFigures(
        depth_by_source=scheduler.queue.depth_by_source(),
        in_flight=scheduler.in_flight,
        waits=live.waits(),
        timeouts=live.timeouts,
        rejected_by_source=dict(scheduler.rejected),
        rate_limited=live.rate_limited,
    )


def _affinity(scheduler: Scheduler) -> controller_pb2.AffinityFigures:
    stats = scheduler.affinity.stats
    return controller_pb2.AffinityFigures(
        hits=stats.hits,
        misses=stats.misses,
        moves=stats.moves,
        active=scheduler.affinity.active(scheduler.clock()),
    )


def _rate_usage(scheduler: Scheduler) -> list[controller_pb2.RateUsage]:
    limiter = scheduler.limiter
    usage = []
    for (worker, family), (requests, tokens) in sorted(limiter.usage(scheduler.clock()).items()):
        limit = limiter.window(worker, family).limit  # only paced windows exist
        usage.append(
            controller_pb2.RateUsage(
                worker=worker,
                family=family,
                requests=requests,
                tokens=tokens,
                limit=controller_pb2.RateLimit(rpm=limit.rpm, tpm=limit.tpm),
            )
        )
    return usage


def effective_config(config: ControllerConfig) -> controller_pb2.EffectiveConfig:
    """The settings in force, without secrets (no tokens, keys, env values or binaries)."""
    return controller_pb2.EffectiveConfig(
        max_concurrent=config.max_concurrent,
        max_queue_total=config.max_queue_total,
        max_queue_per_source=config.max_queue_per_source,
        queue_timeout_ms=config.queue_timeout_ms,
        stream_timeout_ms=config.stream_timeout_ms,
        sync_timeout_ms=config.sync_timeout_ms,
        max_process_age_ms=config.max_process_age_ms,
        max_idle_ms=config.max_idle_ms,
        primary_worker=config.primary_worker,
        health_interval_ms=config.health_interval_ms,
        affinity_ttl_ms=int(config.affinity_ttl_s * 1000),
        max_attempts=config.max_attempts,
        overflow_to_api=config.overflow_to_api,
        retention_days=config.retention_days,
        workers=[
            controller_pb2.ConfiguredWorker(
                name=w.name, mode=w.mode, max_concurrent=w.max_concurrent, local=w.is_local
            )
            for w in config.workers
        ],
        rate_limits={
            f: controller_pb2.RateLimit(rpm=lim.rpm, tpm=lim.tpm)
            for f, lim in config.rate_limits.items()
        },
        api_key_rate_limits={
            f: controller_pb2.RateLimit(rpm=lim.rpm, tpm=lim.tpm)
            for f, lim in config.api_key_rate_limits.items()
        },
        quota_strategy=config.quota_strategy,
        quota_move_at=config.quota_move_at,
    )
