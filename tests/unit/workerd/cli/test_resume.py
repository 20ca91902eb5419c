"""workerd/cli/resume.py: a long history as the CLI's session file."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from workerd.anthropic.content import Turn
from workerd.cli.resume import RESUME_MIN_TURNS, session_file, slug


def conversation(pairs: int) -> list[Turn]:
    turns: list[Turn] = []
    for n in range(pairs):
        turns.append(Turn("user", [{"type": "text", "text": f"q{n}"}]))
        turns.append(Turn("assistant", [{"type": "text", "text": f"a{n}"}]))
    return turns


def test_the_slug_is_the_clis() -> None:
    assert slug(Path("/srv/my_dir.v2")) == "-srv-my-dir-v2"


def test_a_short_history_is_left_to_the_handshake() -> None:
    assert session_file(Path("/c"), Path("/w"), conversation(1)) is None
    history = conversation(RESUME_MIN_TURNS // 2)
    assert session_file(Path("/c"), Path("/w"), history) is not None


def test_a_path_the_cli_would_shorten_is_left_to_the_handshake() -> None:
    assert session_file(Path("/c"), Path("/" + "d" * 250), conversation(RESUME_MIN_TURNS)) is None


def test_records_chain_in_order_as_the_stdin_replay_writes_them() -> None:
    history = conversation(RESUME_MIN_TURNS)
    history[2] = Turn(
        "user",
        [{"type": "text", "text": "look"}, {"type": "image", "source": {"type": "base64"}}],
    )
    made = session_file(Path("/cfg"), Path("/work/chat"), history)

    assert made is not None
    assert made.path == Path("/cfg/projects/-work-chat") / f"{made.session_id}.jsonl"
    records = [json.loads(line) for line in made.text.splitlines()]
    assert len(records) == len(history)
    assert records[0]["parentUuid"] is None
    for before, after in itertools.pairwise(records):
        assert after["parentUuid"] == before["uuid"]
    assert {r["sessionId"] for r in records} == {made.session_id}
    assert all(r["timestamp"].endswith("Z") for r in records)
    assert records[0]["message"] == {"role": "user", "content": "q0"}  # one text block: a string
    assert records[1]["message"]["id"] == "msg_replay_1"
    assert records[2]["message"]["content"][1]["type"] == "image"
    assert [r["type"] for r in records[:2]] == ["user", "assistant"]
