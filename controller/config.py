"""ControllerConfig: admission limits, rate limits and the worker list, from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import ConfigError, Environ, env_bool, env_int, env_str
from common.models import ModelCatalog
from common.paths import StatePaths
from common.rpc import (
    MESSAGE_LIMIT,
    REMOTE_KEEPALIVE_MS,
    TcpListen,
    message_limit_from_env,
    remote_keepalive_from_env,
)
from common.run_limits import RunLimits
from common.tls import TlsFiles, parse_host_port, require_tls
from common.top_labels import DEFAULT_LABEL_CAP
from common.workers import WorkerSpec, parse_workers
from controller.quota.strategy import DEFAULT_MOVE_AT, DEFAULT_STRATEGY, STRATEGIES
from controller.scheduling.ratelimit import Limit, explicit_limits_from_env, limits_from_env
from controller.storage.backlog import BACKLOG_MAX

GRACE_S = 5.0  # how long running calls get when the controller stops


@dataclass(frozen=True)
class ControllerConfig:
    """Settings of the scheduling process."""

    paths: StatePaths
    workers: tuple[WorkerSpec, ...]
    max_concurrent: int
    """Requests running at once, all workers together."""
    max_queue_total: int
    max_queue_per_source: int
    queue_timeout_ms: int
    """Longest a request may wait for a slot before it gets 503 queue_timeout."""
    primary_worker: str
    health_interval_ms: int
    """How often each workerd's health service is polled."""
    rate_limits: dict[str, Limit]
    """Per OAuth (subscription) account and model family: requests and tokens per sliding
    minute (the built-in pace, with RATE_LIMITS over it)."""
    overflow_to_api: bool
    """Send cli-mode traffic to api workers when no CLI worker can take it."""
    affinity_ttl_s: float
    max_attempts: int
    """Attempts of one request on different workers when it fails before any output."""
    retention_days: int = 30
    """Request rows older than this are pruned (lifetime totals stay)."""
    max_process_age_ms: int = 1_800_000
    """A CLI child older than this is shown as stale (workerd enforces it)."""
    max_idle_ms: int = 600_000
    stream_timeout_ms: int = 1_800_000
    sync_timeout_ms: int = 600_000
    api_key_rate_limits: dict[str, Limit] = field(default_factory=dict)
    """Per API-key account: only the families RATE_LIMITS names (the upstream paces the rest)."""
    quota_strategy: str = DEFAULT_STRATEGY
    """Where new conversations go: headroom, spread or drain-first."""
    quota_move_at: float = DEFAULT_MOVE_AT
    """A conversation leaves its account once a window of it passes this utilisation."""
    storage_backlog_max: int = BACKLOG_MAX
    """Events kept in memory while the database refuses writes; past it the oldest are
    dropped (and counted in the storage status)."""
    metrics_label_cap: int = DEFAULT_LABEL_CAP
    """Series of their own per client-chosen label (X-Source, unlisted model id) in the figures;
    the rest are counted under "other"."""
    model_labels: frozenset[str] = frozenset()
    """Configured MODEL_ALIASES names and targets: always a series of their own."""
    tls: TlsFiles | None = None
    """This host's certificate, key and CA: what remote workerds are reached with."""
    listen: TcpListen | None = None
    """CONTROLLER_LISTEN: Admin also on TCP with mutual TLS (grpcurl from another host)."""
    message_limit: int = MESSAGE_LIMIT
    """GRPC_MAX_MESSAGE_MB in bytes, towards workerds (a bigger request gets a 413)."""
    remote_keepalive_ms: int = REMOTE_KEEPALIVE_MS
    """How often a remote workerd is pinged, and how long its answer may take."""

    @classmethod
    def from_env(cls, environ: Environ) -> ControllerConfig:
        workers = parse_workers(environ)
        tls = _tls_for(environ, workers)
        limits = RunLimits.from_env(environ)
        return cls(
            paths=StatePaths.from_env(environ),
            workers=workers,
            max_concurrent=env_int(environ, "MAX_CONCURRENT", 10, minimum=1),
            max_queue_total=env_int(environ, "MAX_QUEUE_TOTAL", 100, minimum=0),
            max_queue_per_source=env_int(environ, "MAX_QUEUE_PER_SOURCE", 20, minimum=0),
            queue_timeout_ms=env_int(environ, "QUEUE_TIMEOUT_MS", 120_000, minimum=1),
            primary_worker=env_str(environ, "PRIMARY_WORKER", "1"),
            health_interval_ms=env_int(environ, "HEALTH_INTERVAL_MS", 1_000, minimum=50),
            rate_limits=limits_from_env(environ),
            overflow_to_api=env_bool(environ, "OVERFLOW_TO_API", False),
            affinity_ttl_s=env_int(environ, "AFFINITY_TTL_MS", 1_800_000, minimum=1) / 1000,
            max_attempts=env_int(environ, "MAX_ATTEMPTS", 3, minimum=1),
            retention_days=env_int(environ, "RETENTION_DAYS", 30, minimum=7),
            max_process_age_ms=limits.max_process_age_ms,
            max_idle_ms=limits.max_idle_ms,
            stream_timeout_ms=limits.stream_timeout_ms,
            sync_timeout_ms=limits.sync_timeout_ms,
            api_key_rate_limits=explicit_limits_from_env(environ),
            quota_strategy=_strategy(environ),
            quota_move_at=_move_at(environ),
            storage_backlog_max=env_int(environ, "STORAGE_BACKLOG_MAX", BACKLOG_MAX, minimum=100),
            metrics_label_cap=env_int(environ, "METRICS_LABEL_CAP", DEFAULT_LABEL_CAP, minimum=1),
            model_labels=_model_labels(environ),
            tls=tls,
            listen=_listen(environ, tls),
            message_limit=message_limit_from_env(environ),
            remote_keepalive_ms=remote_keepalive_from_env(environ),
        )


def _tls_for(environ: Environ, workers: tuple[WorkerSpec, ...]) -> TlsFiles | None:
    """The TLS files, required once a worker is remote or CONTROLLER_LISTEN is set."""
    for worker in workers:
        if worker.address:
            parse_host_port(worker.address, f"WORKERS {worker.name!r} address")
            return require_tls(environ, f"remote worker {worker.name!r}")
    if env_str(environ, "CONTROLLER_LISTEN", "").strip():
        return require_tls(environ, "CONTROLLER_LISTEN")
    return TlsFiles.from_env(environ)


def _listen(environ: Environ, tls: TlsFiles | None) -> TcpListen | None:
    value = env_str(environ, "CONTROLLER_LISTEN", "").strip()
    if not value or tls is None:
        return None
    host, port = parse_host_port(value, "CONTROLLER_LISTEN")
    return TcpListen(host, port, tls)


def _model_labels(environ: Environ) -> frozenset[str]:
    aliases = ModelCatalog.from_env(environ).aliases
    return frozenset(aliases) | frozenset(aliases.values())


def _strategy(environ: Environ) -> str:
    value = env_str(environ, "QUOTA_STRATEGY", DEFAULT_STRATEGY).strip().lower()
    if value not in STRATEGIES:
        raise ConfigError("QUOTA_STRATEGY", f"expected one of {', '.join(STRATEGIES)}")
    return value


def _move_at(environ: Environ) -> float:
    raw = env_str(environ, "QUOTA_MOVE_AT", str(DEFAULT_MOVE_AT))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("QUOTA_MOVE_AT", f"not a number: {raw!r}") from None
    if not 0 < value <= 1:
        raise ConfigError("QUOTA_MOVE_AT", "expected a fraction in (0, 1]")
    return value
