"""Where everything lives under STATE_DIR: sockets, per-worker dirs, database, logs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from common.config import Environ


@dataclass(frozen=True)
class StatePaths:
    """Layout of STATE_DIR (default ./var)."""

    root: Path

    @classmethod
    def from_env(cls, environ: Environ) -> StatePaths:
        return cls(Path(environ.get("STATE_DIR", "").strip() or "var").resolve())

    @property
    def controller_socket(self) -> Path:
        return self.root / "controller.sock"

    def worker_socket(self, name: str) -> Path:
        return self.root / f"worker-{name}.sock"

    def worker_dir(self, name: str) -> Path:
        return self.root / "workers" / name

    @property
    def supervisor_dir(self) -> Path:
        return self.root / "supervisor"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def database(self) -> Path:
        return self.root / "proxy.db"

    def ensure(self) -> None:
        """Create STATE_DIR private to this user (sockets inside are the control plane)."""
        for path in (self.root, self.supervisor_dir, self.log_dir, self.root / "workers"):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
