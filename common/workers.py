"""Worker entries (one per account) parsed from WORKERS or the single-credential defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from common.config import ConfigError, Environ, env_bool, env_json

MODES = ("cli", "agent", "api")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_KNOWN_KEYS = {
    "name",
    "bin",
    "token",
    "api_key",
    "mode",
    "address",
    "listen",
    "max_concurrent",
    "env",
}
NO_WORKER_HINT = (
    "no worker is configured: set CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`) or "
    'ANTHROPIC_API_KEY, or WORKERS=\'[{"name": "1", "token": "sk-ant-oat01-..."}]\', '
    "then restart the proxy"
)


@dataclass(frozen=True)
class WorkerSpec:
    """One account. Secrets are kept out of repr so they never reach a log line."""

    name: str
    mode: str
    bin: str = ""
    token: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)
    address: str = ""
    """host:port of a workerd on another host (reached with mutual TLS); unset: a local one."""
    listen: str = ""
    """host:port this workerd serves on, on a worker host (`make run-workers`)."""
    max_concurrent: int = 4
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def is_local(self) -> bool:
        return not self.address

    @property
    def uses_cli(self) -> bool:
        return self.mode in ("cli", "agent")

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.api_key) if s)


def parse_workers(environ: Environ) -> tuple[WorkerSpec, ...]:
    """WORKERS as JSON, else one worker `1` from CLAUDE_CODE_OAUTH_TOKEN / ANTHROPIC_API_KEY."""
    agents = env_bool(environ, "USE_CLI_AGENTS", False)
    raw = env_json(environ, "WORKERS", None)
    if raw is None:
        return _default_workers(environ, agents)
    if not isinstance(raw, list):
        raise ConfigError("WORKERS", "expected a JSON array of worker objects")
    specs = tuple(_parse_entry(entry, index, agents) for index, entry in enumerate(raw))
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError("WORKERS", f"duplicate worker name {spec.name!r}")
        seen.add(spec.name)
    return specs


def _default_workers(environ: Environ, agents: bool) -> tuple[WorkerSpec, ...]:
    token = environ.get("CLAUDE_CODE_OAUTH_TOKEN", "").strip()
    api_key = environ.get("ANTHROPIC_API_KEY", "").strip()
    if not token and not api_key:
        return ()
    # The OAuth token (flat-rate CLI account) wins; the API key is the fallback (billed).
    entry: dict[str, Any] = (
        {"name": "1", "token": token} if token else {"name": "1", "api_key": api_key}
    )
    return (_parse_entry(entry, 0, agents),)


def _parse_entry(entry: object, index: int, agents: bool) -> WorkerSpec:
    where = f"entry {index}"
    if not isinstance(entry, dict):
        raise ConfigError("WORKERS", f"{where} is not an object")
    unknown = set(entry) - _KNOWN_KEYS
    if unknown:
        raise ConfigError("WORKERS", f"{where} has unknown keys {sorted(unknown)}")
    name = _string(entry, "name", where, default=str(index + 1))
    if not _NAME.match(name):
        raise ConfigError("WORKERS", f"{where}: name {name!r} must match [A-Za-z0-9_-]{{1,32}}")
    where = f"worker {name!r}"
    token = _string(entry, "token", where)
    api_key = _string(entry, "api_key", where)
    mode = _string(entry, "mode", where) or _default_mode(agents, token, api_key)
    if mode not in MODES:
        raise ConfigError("WORKERS", f"{where}: unknown mode {mode!r} (use cli, agent or api)")
    max_concurrent = entry.get("max_concurrent", 4)
    if not isinstance(max_concurrent, int) or isinstance(max_concurrent, bool):
        raise ConfigError("WORKERS", f"{where}: max_concurrent must be a number")
    if max_concurrent < 1:
        raise ConfigError("WORKERS", f"{where}: max_concurrent must be at least 1")
    spec = WorkerSpec(
        name=name,
        mode=mode,
        bin=_string(entry, "bin", where),
        token=token,
        api_key=api_key,
        address=_string(entry, "address", where),
        listen=_string(entry, "listen", where),
        max_concurrent=max_concurrent,
        env=_env_pairs(entry.get("env", {}), where),
    )
    _check_remote(spec, entry, where)
    return spec


def _check_remote(spec: WorkerSpec, entry: dict[str, Any], where: str) -> None:
    """A remote entry is only a name, a mode, an address and a limit: the account's credential
    and CLI stay on the worker host, which lists them in its own WORKERS."""
    if not spec.address:
        return
    local_only = sorted(key for key in ("token", "api_key", "bin", "env", "listen") if key in entry)
    if local_only:
        raise ConfigError(
            "WORKERS",
            f"{where}: a remote worker (address) takes no {', '.join(local_only)}: "
            "they belong in the WORKERS of the worker host that runs it (make run-workers)",
        )


def _default_mode(agents: bool, token: str, api_key: str) -> str:
    if agents:
        return "agent"
    return "api" if api_key else "cli"


def _string(entry: dict[str, Any], key: str, where: str, default: str = "") -> str:
    value = entry.get(key, default)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and key == "name":
        return str(value)
    if not isinstance(value, str):
        raise ConfigError("WORKERS", f"{where}: {key} must be a string")
    return value.strip()


def _env_pairs(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError("WORKERS", f"{where}: env must be an object of strings")
    return tuple(sorted(value.items()))
