"""FrontdoorConfig: the HTTP side's settings, built from the environment."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from common.config import ConfigError, Environ, env_int, env_str
from common.models import ModelCatalog
from common.paths import StatePaths
from common.workers import parse_workers

DEFAULT_TOKEN = "local-proxy"


@dataclass(frozen=True)
class FrontdoorConfig:
    """Settings of the OpenAI-facing HTTP server."""

    host: str
    port: int
    auth_token: str
    """Bearer token every client must send; compared in constant time."""
    paths: StatePaths
    models: ModelCatalog
    max_body_bytes: int
    """Larger request bodies get 413 before they are parsed."""
    workers_configured: int
    stream_commit_ms: int
    """A stream with no output yet commits its 200 headers after this long and sends keepalives."""

    @classmethod
    def from_env(cls, environ: Environ) -> FrontdoorConfig:
        host = env_str(environ, "PROXY_HOST", "127.0.0.1")
        token = env_str(environ, "PROXY_AUTH_TOKEN", DEFAULT_TOKEN)
        if token == DEFAULT_TOKEN and not _is_loopback(host):
            raise ConfigError(
                "PROXY_HOST",
                f"binding {host} with the default PROXY_AUTH_TOKEN is refused; set a strong token",
            )
        port = env_int(environ, "CLAUDE_PROXY_PORT", 8403, minimum=1)
        if port > 65535:
            raise ConfigError("CLAUDE_PROXY_PORT", f"{port} is not a TCP port")
        return cls(
            host=host,
            port=port,
            auth_token=token,
            paths=StatePaths.from_env(environ),
            models=ModelCatalog.from_env(environ),
            max_body_bytes=env_int(environ, "MAX_BODY_BYTES", 20 * 1024 * 1024, minimum=1024),
            workers_configured=len(parse_workers(environ)),
            stream_commit_ms=env_int(environ, "STREAM_COMMIT_MS", 15_000, minimum=100),
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
