"""The time limits of a run, read once for every process that applies or reports them (the
workerd enforces them, the controller shows them and judges stale processes by them)."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import Environ, env_int


@dataclass(frozen=True)
class RunLimits:
    stream_timeout_ms: int = 1_800_000
    sync_timeout_ms: int = 600_000
    max_process_age_ms: int = 1_800_000
    max_idle_ms: int = 600_000

    @classmethod
    def from_env(cls, environ: Environ) -> RunLimits:
        defaults = cls()
        return cls(
            stream_timeout_ms=env_int(
                environ, "STREAM_TIMEOUT_MS", defaults.stream_timeout_ms, minimum=1
            ),
            sync_timeout_ms=env_int(
                environ, "SYNC_TIMEOUT_MS", defaults.sync_timeout_ms, minimum=1
            ),
            max_process_age_ms=env_int(
                environ, "MAX_PROCESS_AGE_MS", defaults.max_process_age_ms, minimum=1
            ),
            max_idle_ms=env_int(environ, "MAX_IDLE_MS", defaults.max_idle_ms, minimum=1),
        )
