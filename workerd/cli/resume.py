"""Pure: a long history handed to a new CLI process as a session file, in one write.

Replaying history over stdin costs one acknowledgement per user turn (docs/claude-cli.md,
"Replaying history"): about 11 ms a turn, 30 s for 10,000 messages. A transcript written to
`<CLAUDE_CONFIG_DIR>/projects/<slug of the cwd>/<session id>.jsonl` and `--resume <session id>`
gives the process the same history at start-up instead (0.9 s for 10,000 messages, measured on
the pinned CLI; `--no-session-persistence` still reads it and writes nothing back). A new
process is needed for it, so below RESUME_MIN_TURNS a warm process and the handshake win.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from workerd.anthropic.content import Turn
from workerd.cli.lines import replay_message

RESUME_MIN_TURNS = 40  # a cold start (about 0.5 s) costs what about 40 acknowledged turns do
MAX_SLUG = 200  # longer slugs are shortened with a hash by the CLI: not reproduced here


@dataclass(frozen=True)
class SessionFile:
    session_id: str
    path: Path
    text: str


def slug(cwd: Path) -> str:
    """The CLI's project directory name for a working directory."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(cwd))


def session_file(config_dir: Path, cwd: Path, history: list[Turn]) -> SessionFile | None:
    """The transcript of `history` for a process started in `cwd`; None when the handshake
    must do (too short a history, or a path the CLI would shorten)."""
    name = slug(cwd)
    if len(history) < RESUME_MIN_TURNS or len(name) > MAX_SLUG:
        return None
    session_id = str(uuid.uuid4())
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    parent: str | None = None
    records = []
    for n, turn in enumerate(history):
        record_id = str(uuid.uuid4())
        records.append(
            json.dumps(
                {
                    "type": turn.role,
                    "uuid": record_id,
                    "parentUuid": parent,
                    "sessionId": session_id,
                    "timestamp": stamp,
                    "message": replay_message(turn, n),
                },
                ensure_ascii=False,
            )
        )
        parent = record_id
    path = config_dir / "projects" / name / f"{session_id}.jsonl"
    return SessionFile(session_id, path, "\n".join(records) + "\n")
