"""Warm processes and live conversations on the real stack.

The real pinned CLI against the mock upstream shows what the model sees (the whole history,
byte-stable, whether a turn was continued live or rebuilt); the fake CLI shows that a stop or
a kill -9 of workerd leaves no warm or parked process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.mock_upstream import MockUpstream, conversation, echo_reply
from tests.stack import FAKE_CLAUDE, Stack, claude_bin, cli_children, wait_until
from workerd.cli.version import parse_version

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def session_stack(upstream: MockUpstream) -> Iterator[Stack]:
    """One real-CLI worker with the default pool (2 warm, 4 idle at most)."""
    workers = [{"name": "w", "bin": claude_bin(), "token": "sk-ant-oat01-test", "mode": "cli"}]
    stack = Stack({"WORKERS": json.dumps(workers), "ANTHROPIC_BASE_URL": upstream.base_url})
    stack.start()
    yield stack
    stack.stop()
    assert cli_children(stack.state_dir) == []


def ask(
    stack: Stack, messages: list[dict[str, str]], session: str, **settings: Any
) -> tuple[str, dict[str, Any]]:
    """One turn; its answer and the `session` event the controller logged for it."""
    raw = stack.client().chat.completions.with_raw_response.create(
        model="sonnet",
        messages=messages,  # type: ignore[arg-type]
        extra_headers={"X-Session-Id": session},
        **settings,
    )
    request_id = raw.headers["X-Request-Id"]
    answer = raw.parse().choices[0].message.content or ""

    def logged() -> list[dict[str, Any]]:
        return [e for e in stack.events("session") if e["request_id"] == request_id]

    wait_until(lambda: bool(logged()), 10, "the turn's session event")
    return answer, logged()[0]


def processes(stack: Stack, state: str) -> list[dict[str, Any]]:
    return [p for p in stack.get("/zombies")[1]["processes"] if p["state"] == state]


def test_a_warm_process_then_the_live_process_serve_a_conversation(
    session_stack: Stack, upstream: MockUpstream
) -> None:
    ask(session_stack, [{"role": "user", "content": "teach the worker this signature"}], "s0")
    wait_until(lambda: len(processes(session_stack, "ready")) == 2, 30, "two warm processes")
    warm_pids = {p["pid"] for p in processes(session_stack, "ready")}

    first = [{"role": "user", "content": "My name is Bob."}]
    reply, turn1 = ask(session_stack, first, "s1")

    assert turn1["served"] == "warm" and turn1["pid"] in warm_pids  # no spawn on the request path
    second = [*first, {"role": "assistant", "content": reply}, {"role": "user", "content": "And?"}]
    before = len(upstream.message_requests())
    _, turn2 = ask(session_stack, second, "s1")

    assert (turn2["served"], turn2["pid"]) == ("live", turn1["pid"])
    assert turn2["bytes_written"] < turn1["bytes_written"] + 200  # only the new turn
    live = upstream.message_requests()[before:]
    assert len(live) == 1 and live[0].json is not None
    texts = [_texts(m) for m in conversation(live[0].json)]
    assert texts == [["My name is Bob."], [reply], ["And?"]]  # the whole history upstream

    # The same conversation rebuilt in another process reaches the model in the same bytes.
    before = len(upstream.message_requests())
    _, rebuilt = ask(session_stack, second, "s2")
    assert rebuilt["served"] in ("warm", "cold") and rebuilt["rebuild_reason"] == "unknown"
    replayed = upstream.message_requests()[before:]
    assert replayed[-1].json is not None
    rebuilt_texts = [_texts(m) for m in conversation(replayed[-1].json)]
    assert rebuilt_texts == [_texts(m) for m in conversation(live[0].json)]
    # Byte for byte: [197] by a warm replay; [332] (its system messages) by --resume with the
    # live process's environment, model and date records (resume.py).
    assert json.dumps(replayed[-1].json["messages"]) == json.dumps(live[0].json["messages"])
    assert rebuilt["served"] == ("cold" if _system_messages_in_history() else "warm")

    sessions = session_stack.get("/metrics")[1]["sessions"]
    served = sessions["workers"]["w"]["served"] if "workers" in sessions else sessions["served"]
    assert served["live"] >= 1 and served["warm"] >= 1


def test_new_sampling_settings_reach_the_model_through_the_live_process(
    session_stack: Stack, upstream: MockUpstream
) -> None:
    """max_tokens, temperature and stop change between turns without leaving the process."""
    history = [{"role": "user", "content": "one"}]
    reply, first = ask(session_stack, history, "tuned", max_tokens=300)
    bodies = []
    for n, settings in enumerate(
        [{"max_tokens": 700, "temperature": 0.3, "stop": ["ZZ"]}, {}], start=2
    ):
        history += [{"role": "assistant", "content": reply}, {"role": "user", "content": f"{n}"}]
        before = len(upstream.message_requests())
        reply, turn = ask(session_stack, history, "tuned", **settings)
        assert (turn["served"], turn["pid"]) == ("live", first["pid"])
        bodies.append(upstream.message_requests()[before:][-1].json or {})
    tuned, plain = bodies
    assert (tuned["max_tokens"], tuned["temperature"], tuned["stop_sequences"]) == (
        700,
        0.3,
        ["ZZ"],
    )
    assert "thinking" not in tuned  # sampling settings need thinking off
    assert (
        plain["max_tokens"] != 700 and "temperature" not in plain and "stop_sequences" not in plain
    )
    assert [_texts(m) for m in conversation(plain)][-1] == ["3"]


def _system_messages_in_history() -> bool:
    """The CLI puts its own `role: "system"` messages into `messages` (2.1.332 does, 2.1.197 not):
    only a --resume rebuild then matches the live process (docs/claude-cli.md, "Versions")."""
    banner = subprocess.run([claude_bin(), "--version"], capture_output=True, text=True).stdout
    version = parse_version(banner)
    return version is not None and version >= (2, 1, 332)


def _texts(message: dict[str, Any]) -> list[str]:
    content = message["content"]
    if isinstance(content, str):
        return [content]
    # The CLI adds a <system-reminder> block (the date) to the first user message.
    blocks = [b["text"] for b in content if b.get("type") == "text"]
    return [text for text in blocks if not text.startswith("<system-reminder>")]


@pytest.mark.parametrize("how", ["stop", "kill -9"])
def test_no_warm_or_parked_process_outlives_its_workerd(how: str, tmp_path: Path) -> None:
    workers = [{"name": "f", "bin": str(FAKE_CLAUDE), "token": "sk-ant-oat01-fake"}]
    stack = Stack({"WORKERS": json.dumps(workers), "STOP_GRACE_MS": "300"}).start()
    try:
        ask(stack, [{"role": "user", "content": "hello"}], "s")
        wait_until(
            lambda: len(processes(stack, "ready")) == 2 and len(processes(stack, "parked")) == 1,
            20,
            "two warm processes and a parked one",
        )
        held = [psutil.Process(p["pid"]) for p in stack.get("/zombies")[1]["processes"]]
        if how == "kill -9":
            old = int(stack.supervisorctl("pid", "workerd-f").strip())
            os.kill(old, signal.SIGKILL)
            wait_until(lambda: not any(_alive(p) for p in held), 20, "the held processes to go")
        else:
            stack.stop()
            assert not any(_alive(p) for p in held)
            assert cli_children(stack.state_dir) == []
    finally:
        if stack.process is not None and stack.process.poll() is None:
            stack.stop()
    assert cli_children(stack.state_dir) == []


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_long_history_goes_in_at_start_up_in_one_write(
    session_stack: Stack, upstream: MockUpstream
) -> None:
    """45 earlier turns: no acknowledgement per turn, the process starts with them (resume.py),
    the upstream gets the whole conversation in order, and the process then holds it live."""
    turns = 45
    history: list[dict[str, str]] = []
    for n in range(turns):
        history += [
            {"role": "user", "content": f"question {n}"},
            {"role": "assistant", "content": echo_reply(f"question {n}")},
        ]
    asked = [*history, {"role": "user", "content": "and now?"}]
    before = len(upstream.message_requests())
    reply, turn = ask(session_stack, asked, "long")

    assert reply == echo_reply("and now?")
    assert turn["served"] == "cold" and turn["bytes_written"] < 200  # only the new turn
    [sent] = upstream.message_requests()[before:]
    assert sent.json is not None
    texts = [_texts(m)[-1] for m in conversation(sent.json)]
    assert len(texts) == 2 * turns + 1
    assert texts[1::2][:3] == [echo_reply(f"question {n}") for n in range(3)]
    assert texts[-2:] == [echo_reply(f"question {turns - 1}"), "and now?"]
    projects = session_stack.state_dir / "workers" / "w" / "claude-config" / "projects"
    # The transcript goes once the turn is over (the process holds the conversation).
    wait_until(lambda: not list(projects.rglob("*.jsonl")), 10, "the transcript to go")

    _, follow_up = ask(
        session_stack,
        [*asked, {"role": "assistant", "content": reply}, {"role": "user", "content": "more"}],
        "long",
    )
    assert (follow_up["served"], follow_up["pid"]) == ("live", turn["pid"])
