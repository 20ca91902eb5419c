"""WorkerdConfig: one worker's account, its CLI binary and its time limits."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.config import ConfigError, Environ, env_bool, env_int, env_str
from common.paths import StatePaths
from common.rpc import MESSAGE_LIMIT, TcpListen, message_limit_from_env
from common.run_limits import RunLimits
from common.tls import parse_host_port, require_tls, tcp_target
from common.workers import WorkerSpec, parse_workers
from workerd.cli.memory import MIB, default_budget_bytes, machine_bytes
from workerd.cli.settings import CliSettings

PINNED_CLI = Path(__file__).resolve().parent.parent / ".tools/claude/node_modules/.bin/claude"


GRACE_S = 2.0  # how long running calls get when the workerd stops, before its children go
NO_IDLE_CAP = 1_000_000  # MAX_IDLE_PROCESSES unset: the memory budget bounds idle processes


def _default_start_concurrency() -> int:
    """As many CLI start-ups at once as there are cores. On 2 cores, 8 starts (bench
    start_pacing): 2 at once had the first ready in 0.40 s, all 8 in 2.0 s and the lowest mean
    wait (1.14 s); 1 at once 0.34 s / 3.1 s; 4 at once 0.61 s / 2.1 s; 8 at once 1.9 s / 2.4 s."""
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class PoolSettings:
    """How the CLI pool sizes itself: its memory, its idle time, its pace of start-ups."""

    memory_budget_bytes: int = field(
        default_factory=lambda: default_budget_bytes(machine_bytes(), 1)
    )
    """What this worker's CLI processes may use before no more warm ones start
    (CLI_MEMORY_BUDGET_MB; default a quarter of the machine's memory over its CLI workers)."""
    warm_idle_ms: int = 60_000
    """A warm process beyond the demand goes after idling this long; demand is remembered
    this long (WARM_IDLE_MS)."""
    start_concurrency: int = field(default_factory=_default_start_concurrency)
    """CLI start-ups at once, at most (CLI_START_CONCURRENCY; default the number of cores)."""

    @classmethod
    def from_env(cls, environ: Environ, cli_workers: int) -> PoolSettings:
        derived = default_budget_bytes(machine_bytes(), cli_workers) // MIB
        return cls(
            memory_budget_bytes=env_int(environ, "CLI_MEMORY_BUDGET_MB", derived, minimum=1) * MIB,
            warm_idle_ms=env_int(environ, "WARM_IDLE_MS", 60_000, minimum=100),
            start_concurrency=env_int(
                environ, "CLI_START_CONCURRENCY", _default_start_concurrency(), minimum=1
            ),
        )


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
    pool: PoolSettings = field(default_factory=PoolSettings)
    listen: TcpListen | None = None
    """On a worker host: TCP with mutual TLS instead of the unix socket in STATE_DIR."""
    message_limit: int = MESSAGE_LIMIT
    """GRPC_MAX_MESSAGE_MB in bytes: a bigger request or answer fails RESOURCE_EXHAUSTED."""

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
        cli = CliSettings.from_env(environ)
        if not environ.get("MAX_IDLE_PROCESSES", "").strip():  # only a cap when set
            cli = replace(cli, sessions=replace(cli.sessions, max_idle_processes=NO_IDLE_CAP))
        cli_workers = sum(1 for other in specs.values() if other.uses_cli)
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
            cli=cli,
            fetch_remote_images=env_bool(environ, "FETCH_REMOTE_IMAGES", False),
            pool=PoolSettings.from_env(environ, cli_workers),
            listen=_tcp_listen(environ, spec, list(specs).index(name)),
            message_limit=message_limit_from_env(environ),
        )

    def ensure_dirs(self) -> None:
        for path in (self.home, self.config_dir, self.chat_dir, self.work_root):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)


def listen_address(environ: Environ, spec: WorkerSpec, index: int) -> str:
    """Where a worker host's workerd serves: its entry's `listen`, else WORKERD_LISTEN with the
    port advanced by the entry's place in WORKERS (one port per account); "" for the unix
    socket."""
    if spec.listen:
        return spec.listen
    base = env_str(environ, "WORKERD_LISTEN", "").strip()
    if not base:
        return ""
    host, port = parse_host_port(base, "WORKERD_LISTEN")
    return tcp_target(host, port + index)


def _tcp_listen(environ: Environ, spec: WorkerSpec, index: int) -> TcpListen | None:
    address = listen_address(environ, spec, index)
    if not address:
        return None
    host, port = parse_host_port(address, f"WORKERS {spec.name!r} listen")
    return TcpListen(host, port, require_tls(environ, f"worker {spec.name!r} listening on TCP"))


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
