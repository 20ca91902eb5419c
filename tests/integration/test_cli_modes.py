"""CLI and agent modes on the real stack with the real CLI: agent tools, history, images,
structured output, timers, the reaper and the start-up sweep after a workerd crash."""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import openai
import psutil
import pytest

from protos import worker_pb2, worker_pb2_grpc
from tests.mock_upstream import PIXEL_PNG, MockUpstream, conversation, texts_of
from tests.stack import Stack, claude_bin, cli_children, wait_until

pytestmark = pytest.mark.stack
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def workers(mode: str) -> str:
    return json.dumps(
        [{"name": "w", "bin": claude_bin(), "token": "sk-ant-oat01-test-w", "mode": mode}]
    )


@pytest.fixture(scope="module")
def agent_stack(upstream: MockUpstream) -> Iterator[Stack]:
    stack = Stack({"WORKERS": workers("agent"), "ANTHROPIC_BASE_URL": upstream.base_url}).start()
    yield stack
    stack.stop()
    assert cli_children(stack.state_dir) == []


@pytest.fixture(scope="module")
def chat_stack(upstream: MockUpstream) -> Iterator[Stack]:
    settings = {
        "WORKERS": workers("cli"),
        "ANTHROPIC_BASE_URL": upstream.base_url,
        # The short first-output limit is haiku's alone: the hung-upstream test asks haiku, and
        # no other test's answer races it (a cold CLI on a busy machine can take seconds).
        "CLI_TIMEOUTS": json.dumps({"haiku": {"first_output_ms": 2500}}),
        "MAX_IDLE_PROCESSES": "0",  # every process is a run's: "none left" is exact
    }
    stack = Stack(settings).start()
    yield stack
    stack.stop()


def test_agent_runs_the_tool_in_its_own_work_dir(agent_stack: Stack, tmp_path: Path) -> None:
    made = tmp_path / "made-by-agent"
    completion = agent_stack.client().chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": f"SCN:tool_bash:{made}"}]
    )

    assert made.exists()
    cwd = Path(made.read_text().strip())
    assert cwd.parent == agent_stack.state_dir / "workers" / "w" / "work"
    assert Path.cwd() not in (cwd, *cwd.parents)
    # Every turn's text, separated cleanly; the tool's own output never becomes content.
    assert completion.choices[0].message.content == "I will run a command.\n\ntool finished"
    activity = [e for e in agent_stack.events("activity") if e["activity"] == "tool_use"]
    assert activity and activity[-1]["detail"].startswith("Bash ")


def test_agent_streams_every_turn(agent_stack: Stack, tmp_path: Path) -> None:
    stream = agent_stack.client().chat.completions.create(
        model="sonnet",
        messages=[{"role": "user", "content": f"SCN:tool_bash:{tmp_path / 'x'}"}],
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "I will run a command.\n\ntool finished"


def test_history_reaches_upstream_as_real_messages(
    chat_stack: Stack, upstream: MockUpstream
) -> None:
    upstream.clear()
    chat_stack.client().chat.completions.create(
        model="sonnet",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "My name is Bob."},
            {"role": "assistant", "content": "Nice to meet you, Bob."},
            {"role": "user", "content": "What is my name?"},
        ],
    )
    body = upstream.message_requests()[-1].json
    assert body is not None
    messages = conversation(body)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    texts = [texts_of(m) for m in messages]
    assert texts[0][-1] == "My name is Bob."
    assert texts[1] == ["Nice to meet you, Bob."]
    assert texts[2][-1] == "What is my name?"
    assert [s["text"] for s in body["system"]][-1] == "You are terse."


def test_an_image_reaches_upstream_as_an_image_block(
    chat_stack: Stack, upstream: MockUpstream
) -> None:
    upstream.clear()
    data_url = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    completion = chat_stack.client().chat.completions.create(
        model="sonnet",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "SCN:image what is this?"},
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "saw 1 images"
    body = upstream.message_requests()[-1].json
    assert body is not None
    images = [b for b in conversation(body)[-1]["content"] if b.get("type") == "image"]
    assert images[0]["source"]["data"] == base64.b64encode(PNG_1PX).decode()


def test_json_schema_reaches_upstream_and_comes_back_as_json(
    chat_stack: Stack, upstream: MockUpstream
) -> None:
    upstream.clear()
    schema: dict[str, object] = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    completion = chat_stack.client().chat.completions.create(
        model="sonnet",
        messages=[{"role": "user", "content": "SCN:structured:forty-two"}],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    first = upstream.message_requests()[0].json
    assert first is not None
    tool = next(t for t in first["tools"] if t["name"] == "StructuredOutput")
    assert tool["input_schema"] == schema
    assert json.loads(completion.choices[0].message.content or "") == {"answer": "forty-two"}


def test_a_hung_upstream_is_cut_by_the_first_output_timer(chat_stack: Stack) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        chat_stack.client().chat.completions.create(
            model="haiku", messages=[{"role": "user", "content": "SCN:hang"}]
        )
    assert caught.value.status_code == 504
    assert "no output within 2500 ms" in caught.value.message
    wait_until(lambda: cli_children(chat_stack.state_dir) == [], 15, "the hung CLI to be stopped")


def test_kill_process_refuses_a_pid_it_did_not_start(chat_stack: Stack) -> None:
    socket = chat_stack.state_dir / "worker-w.sock"
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        stub = worker_pb2_grpc.WorkerStub(channel)
        reply = stub.KillProcess(worker_pb2.KillProcessRequest(pid=os.getpid()), timeout=5)
    assert not reply.killed
    assert "not a process this worker started" in reply.message


def test_kill_9_of_workerd_mid_agent_run_leaves_nothing_after_the_sweep(
    upstream: MockUpstream,
) -> None:
    stack = Stack({"WORKERS": workers("agent"), "ANTHROPIC_BASE_URL": upstream.base_url}).start()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            stack.client().chat.completions.create(
                model="sonnet", messages=[{"role": "user", "content": "SCN:tool_sleep:300"}]
            )
            outcome.append(None)
        except openai.APIError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_until(lambda: _tool_sleeping(stack), 30, "the agent's tool to run")
        old_pid = int(stack.supervisorctl("pid", "workerd-w").strip())
        os.kill(old_pid, signal.SIGKILL)
        thread.join(30)
        assert outcome and isinstance(outcome[0], openai.APIError)  # a clean error, not a hang
        wait_until(
            lambda: stack.supervisorctl("pid", "workerd-w").strip() not in ("0", str(old_pid)),
            20,
            "workerd restarted",
        )
        wait_until(
            lambda: cli_children(stack.state_dir) == [], 30, "the sweep to stop CLI and tool"
        )
        assert "sweeping" in (stack.state_dir / "logs" / "workerd-w.log").read_text()
    finally:
        stack.stop()


def _tool_sleeping(stack: Stack) -> bool:
    return any("sleep" in _command_line(p) for p in cli_children(stack.state_dir))


def _command_line(process: psutil.Process) -> str:
    """Empty for a process gone (or a zombie) since the scan: the agent's CLI starts and ends
    short-lived helpers all the time."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def remote_image_message(url: str) -> Any:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "SCN:image look"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def test_a_remote_image_is_refused_unless_fetching_is_enabled(
    chat_stack: Stack, upstream: MockUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat_stack.client().chat.completions.create(
            model="sonnet", messages=remote_image_message(upstream.base_url + "/files/pixel.png")
        )
    assert "inline" in caught.value.message and "FETCH_REMOTE_IMAGES" in caught.value.message


def test_a_remote_image_is_fetched_and_inlined_when_enabled(upstream: MockUpstream) -> None:
    settings = {
        "WORKERS": workers("cli"),
        "ANTHROPIC_BASE_URL": upstream.base_url,
        "FETCH_REMOTE_IMAGES": "true",
    }
    stack = Stack(settings).start()
    try:
        upstream.clear()
        completion = stack.client().chat.completions.create(
            model="sonnet", messages=remote_image_message(upstream.base_url + "/files/pixel.png")
        )
        assert completion.choices[0].message.content == "saw 1 images"
        body = upstream.message_requests()[-1].json
        assert body is not None
        image = next(b for b in conversation(body)[-1]["content"] if b.get("type") == "image")
        assert image["source"] == {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PIXEL_PNG).decode(),
        }
        with pytest.raises(openai.BadRequestError) as caught:
            stack.client().chat.completions.create(
                model="sonnet", messages=remote_image_message(upstream.base_url + "/nope.png")
            )
        assert "HTTP 404" in caught.value.message
    finally:
        stack.stop()


def test_sampling_settings_reach_upstream(chat_stack: Stack, upstream: MockUpstream) -> None:
    upstream.clear()
    chat_stack.client().chat.completions.create(
        model="sonnet",
        messages=[{"role": "user", "content": "sample"}],
        temperature=0.2,
        top_p=0.9,
        stop=["END"],
        max_completion_tokens=77,
    )
    body = upstream.message_requests()[-1].json
    assert body is not None
    assert (body["temperature"], body["top_p"]) == (0.2, 0.9)
    assert body["stop_sequences"] == ["END"]
    assert body["max_tokens"] == 77
    assert "thinking" not in body  # the API refuses sampling settings with thinking on


def test_disallowed_agent_tools_do_not_run(upstream: MockUpstream, tmp_path: Path) -> None:
    settings = {
        "WORKERS": workers("agent"),
        "ANTHROPIC_BASE_URL": upstream.base_url,
        "AGENT_DISALLOWED_TOOLS": "Bash",
    }
    stack = Stack(settings).start()
    try:
        made = tmp_path / "must-not-exist"
        stack.client().chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": f"SCN:tool_bash:{made}"}]
        )
        assert not made.exists()
        errors = [e for e in stack.events("activity") if e["activity"] == "tool_error"]
        assert errors and "Bash" in errors[-1]["detail"]
    finally:
        stack.stop()
