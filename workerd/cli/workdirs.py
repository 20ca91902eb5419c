"""Where agent runs work: one private directory per conversation, never the proxy's own."""

from __future__ import annotations

from pathlib import Path


def work_dir_for(root: Path, name: str) -> Path:
    safe = "".join(ch for ch in name if ch.isalnum() or ch in "-_")[:64] or "run"
    return root / safe
