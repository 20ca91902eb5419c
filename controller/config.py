"""ControllerConfig: admission limits and the worker list, built from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import ConfigError, Environ, env_int, env_str
from common.paths import StatePaths
from common.workers import WorkerSpec, parse_workers


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

    @classmethod
    def from_env(cls, environ: Environ) -> ControllerConfig:
        workers = parse_workers(environ)
        for worker in workers:
            if worker.address:
                raise ConfigError(
                    "WORKERS",
                    f"worker {worker.name!r}: remote workerds (address) are not supported yet",
                )
        return cls(
            paths=StatePaths.from_env(environ),
            workers=workers,
            max_concurrent=env_int(environ, "MAX_CONCURRENT", 10, minimum=1),
            max_queue_total=env_int(environ, "MAX_QUEUE_TOTAL", 100, minimum=0),
            max_queue_per_source=env_int(environ, "MAX_QUEUE_PER_SOURCE", 20, minimum=0),
            queue_timeout_ms=env_int(environ, "QUEUE_TIMEOUT_MS", 120_000, minimum=1),
            primary_worker=env_str(environ, "PRIMARY_WORKER", "1"),
            health_interval_ms=env_int(environ, "HEALTH_INTERVAL_MS", 1_000, minimum=50),
        )
