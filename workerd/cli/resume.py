"""Pure: a long history handed to a new CLI process as a session file, in one write.

Replaying history over stdin costs one acknowledgement per user turn (docs/claude-cli.md,
"Replaying history"): about 11 ms a turn, 30 s for 10,000 messages. A transcript written to
`<CLAUDE_CONFIG_DIR>/projects/<slug of the cwd>/<session id>.jsonl` and `--resume <session id>`
gives the process the same history at start-up instead (0.9 s for 10,000 messages, measured on
the pinned CLI; `--no-session-persistence` still reads it and writes nothing back). A new
process is needed for it, so below RESUME_MIN_TURNS a warm process and the handshake win.

From 2.1.332 the CLI tells the model its environment, model and date in a `role: "system"`
message, and a stdin replay places it differently from the live process (docs/claude-cli.md,
"Rebuilds on 2.1.332"). A session file carrying the three `attachment` records the CLI's own
transcript holds after the first user turn (`Identity`) reproduces the live bytes on
`--resume`: there every rebuild goes in that way (RESUME_MIN_TURNS_SYSTEM_TURNS), measured at a
prefix share of 1.00 against 0.80 for a warm replay, for about 0.5 s more to the first token.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.models import BUILTIN_ALIASES, FAMILY_MODELS, MODEL_IDENTITIES
from workerd.anthropic.client_json import dumps
from workerd.anthropic.content import Turn
from workerd.cli.lines import replay_message

RESUME_MIN_TURNS = 40  # a cold start (about 0.5 s) costs what about 40 acknowledged turns do
RESUME_MIN_TURNS_SYSTEM_TURNS = 1  # [332]: only --resume rebuilds byte-stable (see above)
SYSTEM_TURNS_SINCE = (2, 1, 332)  # the CLI puts its environment into a system message
MAX_SLUG = 200  # longer slugs are shortened with a hash by the CLI: not reproduced here


@dataclass(frozen=True)
class SessionFile:
    session_id: str
    path: Path
    text: str


@dataclass(frozen=True)
class Identity:
    """What the live process told the model (2.1.332's environment, model and date records)."""

    model_id: str
    marketing_name: str
    knowledge_cutoff: str
    date: str  # YYYY-MM-DD
    os_version: str  # "Linux 6.18.44-...": `uname -sr`
    platform: str = "linux"
    shell: str = "bash"


def identity_for(model: str, date: str, os_version: str) -> Identity | None:
    """The identity of a process running `model` (an alias or an id); None for a model whose
    identity is not known here (common/models.MODEL_IDENTITIES)."""
    model_id = FAMILY_MODELS.get(BUILTIN_ALIASES.get(model, model), model)
    known = MODEL_IDENTITIES.get(model_id)
    if known is None:
        return None
    return Identity(model_id, known[0], known[1], date, os_version)


def conversation_date(opened_at: float, now: float) -> str:
    """The local date (YYYY-MM-DD) the live process of a conversation opened at `opened_at`
    (unix seconds; 0 unknown: the date of `now`) was told. A process resumed on a later day
    with it adds "The date has changed" to the new turn, as the live process would have."""
    return datetime.fromtimestamp(opened_at if opened_at > 0 else now).date().isoformat()


def awaits_tool_results(history: list[Turn]) -> bool:
    """The history ends in the model's tool calls (the new turn brings their results): a
    session file ending there makes [332] answer a placeholder "(no content)" turn instead, so
    such a rebuild goes in by stdin replay (measured 2026-12-07)."""
    last = history[-1] if history else None
    return last is not None and any(b.get("type") == "tool_use" for b in last.blocks)


def attachments(identity: Identity, cwd: Path) -> list[dict[str, Any]]:
    """The `attachment` payloads, in the CLI's order, that follow the first user record."""
    snapshot = {
        "workingDirectory": str(cwd),
        "isWorktree": False,
        "isGitRepo": False,
        "additionalWorkingDirectories": [],
        "platform": identity.platform,
        "shell": identity.shell,
        "osVersion": identity.os_version,
    }
    model = {
        "modelId": identity.model_id,
        "marketingName": identity.marketing_name,
        "knowledgeCutoff": identity.knowledge_cutoff,
    }
    return [
        {"type": "environment", "snapshot": snapshot},
        {"type": "model", "identity": model},
        {"type": "date", "date": identity.date},
    ]


def slug(cwd: Path) -> str:
    """The CLI's project directory name for a working directory."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(cwd))


def session_file(
    config_dir: Path,
    cwd: Path,
    history: list[Turn],
    identity: Identity | None = None,
    min_turns: int = RESUME_MIN_TURNS,
) -> SessionFile | None:
    """The transcript of `history` for a process started in `cwd` (with `identity`'s records
    after the first user turn, when given); None when the handshake must do (too short a
    history, or a path the CLI would shorten)."""
    name = slug(cwd)
    if len(history) < min_turns or len(name) > MAX_SLUG:
        return None
    session_id = str(uuid.uuid4())
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    base = {"sessionId": session_id, "timestamp": stamp}
    records: list[dict[str, Any]] = []
    for n, turn in enumerate(history):
        records.append({"type": turn.role, "message": replay_message(turn, n)})
        if n == 0 and identity is not None:
            records += [{"type": "attachment", "attachment": a} for a in attachments(identity, cwd)]
    parent: str | None = None
    lines = []
    for record in records:
        record_id = str(uuid.uuid4())
        lines.append(
            dumps({**record, "uuid": record_id, "parentUuid": parent, **base}, ensure_ascii=False)
        )
        parent = record_id
    path = config_dir / "projects" / name / f"{session_id}.jsonl"
    return SessionFile(session_id, path, "\n".join(lines) + "\n")
