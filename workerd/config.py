"""WorkerdConfig: one worker's account, its CLI binary and its time limits."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from common.config import ConfigError, Environ, env_bool, env_int, env_str
from common.paths import StatePaths
from common.run_limits import RunLimits
from common.workers import WorkerSpec, parse_workers
from workerd.cli.settings import CliSettings

PINNED_CLI = Path(__file__).resolve().parent.parent / ".tools/claude/node_modules/.bin/claude"


GRACE_S = 2.0  # how long running calls get when the workerd stops, before its children go


@dataclass(frozen=True)
class WorkerdConfig:
    """Settings of one workerd process."""

    spec: WorkerSpec
    paths: StatePaths
    claude_bin: str
    """The CLI this worker runs: entry bin, CLAUDE_BIN, `claude` on PATH, or the pinned one."""
    anthropic_base_url: str
    stream_timeout_ms: int
    sync_timeout_ms: int
    max_process_age_ms: int
    max_idle_ms: int
    cli_max_retries: int
    """CLAUDE_CODE_MAX_RETRIES for children: low, as the controller retries on other workers."""
    stop_grace_ms: int
    """How long a child gets after interrupt/SIGTERM before SIGKILL."""
    cli: CliSettings = field(default_factory=CliSettings)
    fetch_remote_images: bool = False
    """api mode: pass http(s) image URLs on to the Messages API (which fetches them); else 400."""

    @property
    def home(self) -> Path:
        return self.paths.worker_dir(self.spec.name) / "home"

    @property
    def config_dir(self) -> Path:
        return self.paths.worker_dir(self.spec.name) / "claude-config"

    @property
    def work_root(self) -> Path:
        """Agent working directories, one per request: never the proxy's own directory."""
        return self.paths.worker_dir(self.spec.name) / "work"

    @property
    def chat_dir(self) -> Path:
        """Working directory of plain-chat children: empty, never the proxy's own directory, and
        one path for every cli worker: 2.1.332 tells the model its working directory, so a path
        naming the worker would change a moved conversation's bytes (docs/claude-cli.md)."""
        return self.paths.root / "chat"

    @classmethod
    def from_env(cls, environ: Environ, name: str) -> WorkerdConfig:
        specs = {spec.name: spec for spec in parse_workers(environ)}
        if name not in specs:
            raise ConfigError("WORKERS", f"no worker named {name!r} is configured")
        spec = specs[name]
        limits = RunLimits.from_env(environ)
        return cls(
            spec=spec,
            paths=StatePaths.from_env(environ),
            claude_bin=resolve_claude_bin(spec, environ) if spec.uses_cli else "",
            anthropic_base_url=env_str(environ, "ANTHROPIC_BASE_URL", ""),
            stream_timeout_ms=limits.stream_timeout_ms,
            sync_timeout_ms=limits.sync_timeout_ms,
            max_process_age_ms=limits.max_process_age_ms,
            max_idle_ms=limits.max_idle_ms,
            cli_max_retries=env_int(environ, "CLI_MAX_RETRIES", 1, minimum=0),
            stop_grace_ms=env_int(environ, "STOP_GRACE_MS", 3_000, minimum=10),
            cli=CliSettings.from_env(environ),
            fetch_remote_images=env_bool(environ, "FETCH_REMOTE_IMAGES", False),
        )

    def ensure_dirs(self) -> None:
        for path in (self.home, self.config_dir, self.chat_dir, self.work_root):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)


def resolve_claude_bin(spec: WorkerSpec, environ: Environ) -> str:
    if spec.bin:  # an explicit bin is used or refused, never silently replaced
        if not os.access(spec.bin, os.X_OK):
            raise ConfigError("WORKERS", f"worker {spec.name!r}: bin {spec.bin} is not executable")
        return os.path.abspath(spec.bin)
    candidates = [
        spec.bin,
        environ.get("CLAUDE_BIN", ""),
        shutil.which("claude") or "",
        str(PINNED_CLI),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    where = spec.bin or "CLAUDE_BIN, PATH or the pinned CLI"
    raise ConfigError(
        "WORKERS", f"worker {spec.name!r}: no executable claude CLI at {where}; run `make claude`"
    )
