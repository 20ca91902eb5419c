"""FrontdoorConfig: the HTTP side's settings, built from the environment."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from common.config import ConfigError, Environ, env_int, env_str
from common.models import ModelCatalog
from common.paths import StatePaths
from common.workers import parse_workers

DEFAULT_TOKEN = "local-proxy"
MIN_NETWORK_TOKEN = 16
"""The shortest PROXY_AUTH_TOKEN a non-loopback bind accepts."""


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
    shutdown_drain_ms: int = 10_000
    """On SIGTERM, running answers get this long before they are cut (with an error event)."""
    header_timeout_ms: int = 15_000
    """A connection must send a whole request head within this long (and an idle keep-alive
    connection is closed after it): slow senders cannot hold sockets."""
    client_body_timeout_ms: int = 30_000
    """The longest silence while a request body arrives (as nginx's client_body_timeout): then
    408 and the connection is closed, so a body that never finishes cannot hold a socket."""
    max_connections: int = 4096
    """Open client connections at most, all addresses together (kept below the descriptor
    limit): beyond it a new connection gets 503 and is closed, so /health still answers."""
    max_connections_per_address: int = 1024
    """Open client connections at most from one address (an IPv6 /64 counts as one)."""
    max_messages: int = 10_000
    """A request with more messages (chat `messages`, Responses `input` items and the stored
    conversation it continues, Anthropic `messages`) gets a 400 naming MAX_MESSAGES."""
    max_dashboard_streams: int = 32
    """Live GET /stream feeds open at once (each is a watch on the controller); one more gets
    429 too_many_streams."""

    @classmethod
    def from_env(cls, environ: Environ) -> FrontdoorConfig:
        host = env_str(environ, "PROXY_HOST", "127.0.0.1")
        token = env_str(environ, "PROXY_AUTH_TOKEN", DEFAULT_TOKEN)
        if is_weak_token(token) and not _is_loopback(host):
            raise ConfigError(
                "PROXY_HOST",
                f"binding {host} with the default or a weak PROXY_AUTH_TOKEN is refused; set one "
                f"of at least {MIN_NETWORK_TOKEN} characters (loopback binds accept any)",
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
            shutdown_drain_ms=env_int(environ, "SHUTDOWN_DRAIN_MS", 10_000, minimum=0),
            header_timeout_ms=env_int(environ, "CLIENT_HEADER_TIMEOUT_MS", 15_000, minimum=100),
            client_body_timeout_ms=env_int(environ, "CLIENT_BODY_TIMEOUT_MS", 30_000, minimum=100),
            max_connections=env_int(environ, "MAX_CONNECTIONS", 4096, minimum=1),
            max_connections_per_address=env_int(
                environ, "MAX_CONNECTIONS_PER_ADDRESS", 1024, minimum=1
            ),
            max_messages=env_int(environ, "MAX_MESSAGES", 10_000, minimum=1),
            max_dashboard_streams=env_int(environ, "MAX_DASHBOARD_STREAMS", 32, minimum=1),
        )


def is_weak_token(token: str) -> bool:
    """The default token, or one too short to guard a network (or to be masked in output)."""
    return token == DEFAULT_TOKEN or len(token) < MIN_NETWORK_TOKEN


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
