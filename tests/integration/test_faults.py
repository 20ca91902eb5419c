"""Faults and lifecycle on the real stack: CLI crash, garbage, hang, stop mid-stream, bad config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import psutil
import pytest

from tests.mock_upstream import MockUpstream
from tests.stack import FAKE_CLAUDE, REPO, TOKEN, Stack, claude_bin, cli_children, wait_until

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def fake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Two workers running the scriptable fake `claude`; a short idle limit for the hang case.

    No warm or parked processes (MAX_IDLE_PROCESSES=0): every process seen is a run's, so
    "nothing left" is exact. tests/integration/test_sessions.py covers the pool.
    """
    log = tmp_path_factory.mktemp("fake") / "runs.log"
    workers = [
        {
            "name": n,
            "bin": str(FAKE_CLAUDE),
            "token": "sk-ant-oat01-fake",
            "env": {"FAKE_CLAUDE_LOG": str(log)},
        }
        for n in ("a", "b")
    ]
    settings = {"MAX_IDLE_MS": "1500", "STOP_GRACE_MS": "300", "MAX_IDLE_PROCESSES": "0"}
    stack = Stack({"WORKERS": json.dumps(workers), **settings})
    stack.start()
    yield stack
    stack.stop()


def completion_error(stack: Stack, text: str) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        stack.client().chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": text}]
        )
    return caught.value


def test_fake_cli_answers(fake_stack: Stack) -> None:
    completion = fake_stack.client().chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": "ping"}]
    )
    assert completion.choices[0].message.content == "fake says: ping"
    assert completion.model == "fake-model"


def test_cli_crash_is_a_clean_error_and_leaves_no_process(fake_stack: Stack) -> None:
    error = completion_error(fake_stack, "FAKE:crash")

    assert error.status_code == 502
    assert error.body["type"] == "worker_error"  # type: ignore[index]
    assert "exit code 3" in error.message
    assert "sk-ant" not in error.message  # the CLI's stderr never reaches the client
    wait_until(lambda: cli_children(fake_stack.state_dir) == [], 10, "no CLI child left")
    assert "sk-ant-oat01-shouldnotleak" not in fake_stack.logs()


def test_cli_garbage_output_is_a_clean_error(fake_stack: Stack) -> None:
    error = completion_error(fake_stack, "FAKE:garbage")
    assert error.status_code == 502
    assert "unparseable" in error.message


def test_silent_cli_is_cut_by_the_idle_limit_and_killed(fake_stack: Stack) -> None:
    error = completion_error(fake_stack, "FAKE:hang")

    assert error.status_code == 504
    assert "produced no output for 1500 ms" in error.message  # the reaper's idle limit cut it
    # The fake ignores SIGINT and SIGTERM: only the SIGKILL step of the stop sequence ends it.
    wait_until(lambda: cli_children(fake_stack.state_dir) == [], 10, "the hung CLI to be killed")
    wait_until(
        lambda: any(e["reason"] == "idle" for e in fake_stack.events("reap")),
        10,
        "the reap to reach the event log",
    )


def test_client_disconnect_mid_stream_stops_the_cli(tmp_path: Path, upstream: MockUpstream) -> None:
    workers = [{"name": "1", "bin": claude_bin(), "token": "sk-ant-oat01-test", "mode": "cli"}]
    settings = {"ANTHROPIC_BASE_URL": upstream.base_url, "MAX_IDLE_PROCESSES": "0"}
    stack = Stack({"WORKERS": json.dumps(workers), **settings}).start()
    try:
        stream = stack.client().chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "SCN:slow:100"}], stream=True
        )
        iterator = iter(stream)
        next(iterator)
        wait_until(lambda: len(cli_children(stack.state_dir)) == 1, 10, "the CLI to run")
        stream.close()
        wait_until(lambda: cli_children(stack.state_dir) == [], 15, "the CLI to be stopped")
    finally:
        stack.stop()


def test_sigterm_to_make_run_mid_stream_leaves_no_cli(upstream: MockUpstream) -> None:
    workers = [{"name": "1", "bin": claude_bin(), "token": "sk-ant-oat01-test", "mode": "cli"}]
    settings = {
        "WORKERS": json.dumps(workers),
        "ANTHROPIC_BASE_URL": upstream.base_url,
        "SHUTDOWN_DRAIN_MS": "1000",
    }
    stack = Stack(settings, via_make=True).start()
    stream = stack.client().chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": "SCN:slow:200"}], stream=True
    )
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    wait_until(lambda: len(cli_children(stack.state_dir)) >= 1, 10, "the CLI to run")

    supervisord = psutil.Process(int((stack.state_dir / "supervisor/supervisord.pid").read_text()))

    stack.stop(timeout=60)  # make re-raises the SIGTERM once its recipe has ended
    stream.close()
    assert not supervisord.is_running()
    assert cli_children(stack.state_dir) == []
    assert "stopped: workerd-1 (exit status 0)" in stack.logs()


def test_a_stop_with_a_large_grace_is_never_cut_by_supervisord(tmp_path: Path) -> None:
    """A CLI that ignores SIGINT and SIGTERM takes two graces to stop; with STOP_GRACE_MS of
    13 s that is beyond a fixed stopwaitsecs=20, where supervisord's SIGKILL of workerd left the
    CLI (in a session of its own) running."""
    workers = [{"name": "a", "bin": str(FAKE_CLAUDE), "token": "sk-ant-oat01-fake"}]
    settings = {
        "WORKERS": json.dumps(workers),
        "STOP_GRACE_MS": "13000",
        "SHUTDOWN_DRAIN_MS": "500",
        "MAX_IDLE_PROCESSES": "0",
    }
    stack = Stack(settings).start()
    # Not stack.client(): the stack closes those when it stops, this one must see the answer.
    client = openai.OpenAI(
        base_url=stack.base_url + "/v1", api_key=TOKEN, max_retries=0, timeout=120
    )

    def ask() -> object:
        return client.chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "FAKE:hang"}]
        )

    waiting = ThreadPoolExecutor(1).submit(ask)
    wait_until(lambda: len(cli_children(stack.state_dir)) == 1, 15, "the CLI to run")
    [child] = cli_children(stack.state_dir)

    stack.stop(timeout=120)

    assert not child.is_running()
    assert "stopped: workerd-a (exit status 0)" in stack.logs()
    with pytest.raises(openai.APIStatusError) as cut:
        waiting.result(timeout=10)
    assert cut.value.status_code == 503  # the frontdoor's drain ended it, no reset connection


def test_no_worker_configured_starts_degraded_and_explains() -> None:
    stack = Stack({}).start(expect_up=0)
    try:
        status, health = stack.get("/health")
        assert (status, health["status"]) == (200, "degraded")
        error = completion_error(stack, "hi")
        assert error.status_code == 503
        assert "CLAUDE_CODE_OAUTH_TOKEN" in error.message
        assert error.response.headers["retry-after"]
    finally:
        stack.stop()


@pytest.mark.parametrize(
    ("setting", "value", "variable"),
    [
        ("WORKERS", "[{bad json", "WORKERS"),
        ("WORKERS", '[{"name": "1"}, {"name": "1"}]', "WORKERS"),
        ("WORKERS", '[{"name": "1", "mode": "turbo"}]', "WORKERS"),
        ("MAX_CONCURRENT", "ten", "MAX_CONCURRENT"),
        ("PROXY_HOST", "0.0.0.0", "PROXY_HOST"),
        ("MODEL_ALIASES", '{"gpt-4o": "nope"}', "MODEL_ALIASES"),
    ],
)
def test_invalid_configuration_stops_start_up_with_one_line(
    setting: str, value: str, variable: str, tmp_path: Path
) -> None:
    env = {"PATH": "/usr/bin:/bin", "STATE_DIR": str(tmp_path / "var"), setting: value}
    if setting == "PROXY_HOST":
        env.pop("PROXY_AUTH_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "supervisor_conf.launch"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}:")


def test_supervisord_restarts_a_killed_workerd(fake_stack: Stack) -> None:
    status = fake_stack.supervisorctl("pid", "workerd-a")
    pid = int(status.strip())
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: fake_stack.supervisorctl("pid", "workerd-a").strip() not in ("", "0", str(pid)),
        20,
        "workerd-a restarted",
    )
    wait_until(
        lambda: fake_stack.get("/health")[1]["workers"]["up"] == 2, 20, "both workers up again"
    )


def test_kill_9_of_the_controller_mid_stream_ends_the_stream_and_the_cli(
    upstream: MockUpstream,
) -> None:
    workers = [{"name": "1", "bin": claude_bin(), "token": "sk-ant-oat01-test", "mode": "cli"}]
    settings = {"ANTHROPIC_BASE_URL": upstream.base_url, "MAX_IDLE_PROCESSES": "0"}
    stack = Stack({"WORKERS": json.dumps(workers), **settings}).start()
    try:
        body = {
            "model": "sonnet",
            "stream": True,
            "messages": [{"role": "user", "content": "SCN:slow:200"}],
        }
        request = urllib.request.Request(
            stack.base_url + "/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            first = response.readline()
            assert first.startswith(b"data: ")
            wait_until(lambda: len(cli_children(stack.state_dir)) == 1, 10, "the CLI to run")
            os.kill(int(stack.supervisorctl("pid", "controller").strip()), signal.SIGKILL)
            rest = response.read().decode()
        # The client learns the stream broke (an error event, then [DONE]): never a fake "stop".
        events = [e for e in rest.split("\n\n") if e.strip()]
        assert events[-1] == "data: [DONE]"
        assert '"error"' in events[-2]
        assert '"finish_reason":"stop"' not in rest
        wait_until(
            lambda: cli_children(stack.state_dir) == [], 15, "the orphaned run's CLI to stop"
        )
        wait_until(lambda: stack.get("/health")[0] == 200, 30, "the controller to come back")
        # The cut-off request still ends as one accounting row, closed by the new controller.
        closed = [e for e in stack.events("error") if e["status"] == "INTERRUPTED"]
        assert len(closed) == 1 and closed[0]["source"] == "127.0.0.1"
        metrics = stack.get("/metrics")[1]
        assert metrics["tokens"]["totals"]["requests"] == 1
        assert metrics["errors"]["byCategory"].get("interrupted") == 1
    finally:
        stack.stop()
