"""workerd/cli/resume.py: a long history as the CLI's session file."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path

from workerd.anthropic.content import Turn
from workerd.cli.resume import (
    RESUME_MIN_TURNS,
    Identity,
    awaits_tool_results,
    conversation_date,
    identity_for,
    session_file,
    slug,
)


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


def test_the_live_identity_follows_the_first_user_turn() -> None:
    """[332]: the environment, model and date records the CLI's own transcript holds, so that
    --resume sends the live process's bytes (docs/claude-cli.md, "Rebuilds on 2.1.332")."""
    identity = Identity("claude-sonnet-5-5", "Sonnet 5.5", "June 2026", "2026-12-07", "Linux 6")
    made = session_file(Path("/cfg"), Path("/s/chat"), conversation(1), identity, min_turns=1)
    assert made is not None
    records = [json.loads(line) for line in made.text.splitlines()]
    assert [r["type"] for r in records] == [
        "user",
        "attachment",
        "attachment",
        "attachment",
        "assistant",
    ]
    environment, model, date = (r["attachment"] for r in records[1:4])
    assert environment["type"] == "environment"
    assert environment["snapshot"]["workingDirectory"] == "/s/chat"
    assert environment["snapshot"]["osVersion"] == "Linux 6"
    assert model == {
        "type": "model",
        "identity": {
            "modelId": "claude-sonnet-5-5",
            "marketingName": "Sonnet 5.5",
            "knowledgeCutoff": "June 2026",
        },
    }
    assert date == {"type": "date", "date": "2026-12-07"}
    for before, after in itertools.pairwise(records):
        assert after["parentUuid"] == before["uuid"]
    assert session_file(Path("/cfg"), Path("/s/chat"), conversation(1), identity) is None


def test_identity_of_an_alias_or_an_id() -> None:
    made = identity_for("sonnet", "2026-12-07", "Linux 6")
    assert made is not None and (made.model_id, made.marketing_name) == (
        "claude-sonnet-5-5",
        "Sonnet 5.5",
    )
    older = identity_for("claude-opus-4-7", "2026-12-07", "Linux 6")
    assert older is not None and older.knowledge_cutoff == "January 2026"
    assert identity_for("claude-unknown-9", "2026-12-07", "Linux 6") is None


def test_a_history_ending_in_tool_calls_awaits_their_results() -> None:
    call = Turn("assistant", [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}])
    assert awaits_tool_results([Turn("user", [{"type": "text", "text": "q"}]), call])
    assert not awaits_tool_results(conversation(1))
    assert not awaits_tool_results([])


def test_a_rebuild_keeps_the_date_its_conversation_opened_on() -> None:
    opened = datetime(2026, 12, 6, 23, 50).timestamp()  # local time, as the CLI's date is
    next_day = datetime(2026, 12, 7, 0, 10).timestamp()
    assert conversation_date(opened, now=next_day) == "2026-12-06"
    assert conversation_date(0.0, now=next_day) == "2026-12-07"  # unknown: today
