"""Real third-party clients the tests drive the proxy with: the `openai` Node SDK (through the
scripts in this directory) and the Codex CLI, both installed by `make clients`
(`.tools/clients`, git-ignored); `make test` passes their paths as OPENAI_NODE_DIR and
CODEX_BIN. A missing client is a failure that says how to install it, never a skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIENTS_DIR = REPO / ".tools" / "clients" / "node_modules"
INSTALL = "run `make clients` (make test does)"


def node() -> str:
    path = shutil.which("node")
    if path is None:
        raise RuntimeError(
            "no `node` on PATH: install Node.js (the Makefile's npm targets need it)"
        )
    return path


def openai_node_dir() -> str:
    """The installed `openai` npm package (its directory)."""
    path = Path(os.environ.get("OPENAI_NODE_DIR") or CLIENTS_DIR / "openai")
    if not (path / "package.json").is_file():
        raise RuntimeError(f"no openai Node SDK at {path}: {INSTALL}")
    return str(path)


def codex_bin() -> str:
    """The installed Codex CLI."""
    path = os.environ.get("CODEX_BIN") or str(CLIENTS_DIR / ".bin" / "codex")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no Codex CLI at {path}: {INSTALL}")
    return path


def script(name: str) -> str:
    return str(HERE / name)
