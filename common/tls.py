"""Mutual TLS for the control plane on TCP: a host's certificate, key and CA, and where it listens.

The control plane stays on unix sockets in STATE_DIR unless a process is told to listen on TCP
(WORKERD_LISTEN, CONTROLLER_LISTEN) or the controller reaches a remote workerd (a WORKERS entry
with an `address`). TCP is only ever TLS with client certificates, both ways: a host presents
TLS_CERT_FILE / TLS_KEY_FILE, and accepts only peers whose certificates chain to TLS_CA_FILE.
`python -m common.certs` makes such files for a small deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from common.config import ConfigError, Environ

TLS_VARIABLES = ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")


@dataclass(frozen=True)
class TlsFiles:
    """This host's identity (certificate and key) and the CA its peers must chain to."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def from_env(cls, environ: Environ) -> TlsFiles | None:
        """All three variables, or none (None: this host speaks no TCP)."""
        given = {name: environ.get(name, "").strip() for name in TLS_VARIABLES}
        if not any(given.values()):
            return None
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise ConfigError(missing[0], f"set {_names()} together")
        for name, value in given.items():
            if not _readable_pem(Path(value)):
                raise ConfigError(name, f"{value} is not a readable PEM file")
        return cls(*(Path(given[name]) for name in TLS_VARIABLES))

    def server_credentials(self) -> grpc.ServerCredentials:
        """Serve with this host's certificate; a client without one from the CA is refused in
        the handshake, before any RPC (health and reflection included)."""
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.ca.read_bytes(),
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Connect presenting this host's certificate; the server's must chain to the CA and
        name the address dialled."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes(),
            certificate_chain=self.cert.read_bytes(),
        )


def require_tls(environ: Environ, needed_by: str) -> TlsFiles:
    """The TLS files, which `needed_by` (a setting or worker) cannot do without."""
    files = TlsFiles.from_env(environ)
    if files is None:
        raise ConfigError("TLS_CERT_FILE", f"{needed_by} needs mutual TLS: set {_names()}")
    return files


def parse_host_port(value: str, variable: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port`, a port in 1..65535."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(variable, f"expected host:port, got {value!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(variable, f"port out of range in {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def tcp_target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _readable_pem(path: Path) -> bool:
    try:
        return b"-----BEGIN " in path.read_bytes()[:4096]
    except OSError:
        return False


def _names() -> str:
    return ", ".join(TLS_VARIABLES)
