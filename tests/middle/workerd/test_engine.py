"""workerd/cli/engine.py and runner.py in-process, with the scriptable fake `claude` as child.

The middle tier: the real session engine, runner and reaper with real child processes, but no
gRPC and no stack. The fake records every stdin line per process, so a test sees exactly what
each CLI process was told.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from common.events import is_output
from common.paths import StatePaths
from common.workers import WorkerSpec
from protos import common_pb2 as pb
from tests.stack import FAKE_CLAUDE
from workerd.anthropic.content import Turn
from workerd.cli.child_env import MARKER, STATE_MARKER
from workerd.cli.engine import SessionEngine
from workerd.cli.process import ProcessTable
from workerd.cli.reaper import Reaper
from workerd.cli.resume import RESUME_MIN_TURNS
from workerd.cli.runner import CliRunner
from workerd.cli.settings import CliSettings, SessionSettings
from workerd.cli.states import ChildState
from workerd.config import WorkerdConfig

pytestmark = pytest.mark.middle


class Worker:
    """One in-process CLI worker: table, engine, runner and reaper around the fake CLI."""

    def __init__(
        self, tmp: Path, mode: str = "cli", bin_path: Path = FAKE_CLAUDE, **sessions: int
    ) -> None:
        self.stdin_dir = tmp / "stdin"
        self.stdin_dir.mkdir()
        spec = WorkerSpec(
            name="w", mode=mode, env=(("FAKE_CLAUDE_STDIN_DIR", str(self.stdin_dir)),)
        )
        self.config = WorkerdConfig(
            spec=spec,
            paths=StatePaths(tmp / "state"),
            claude_bin=str(bin_path),
            anthropic_base_url="",
            stream_timeout_ms=20_000,
            sync_timeout_ms=20_000,
            max_process_age_ms=600_000,
            max_idle_ms=20_000,
            cli_max_retries=0,
            stop_grace_ms=500,
            cli=CliSettings(sessions=replace(SessionSettings(), **sessions)),
        )
        self.config.ensure_dirs()
        self.table = ProcessTable()
        self.engine = SessionEngine(self.config, self.table)
        self.engine.machine_busy = lambda: False  # this machine's load is not the test's
        self.runner = CliRunner(self.config, self.engine)
        self.reaper = Reaper(self.config, self.table, self.engine)

    async def ask(
        self, key: str, *texts: str, max_tokens: int | None = None
    ) -> tuple[pb.SessionInfo, str, list[pb.Event]]:
        """One request: alternate user/assistant texts, the last a user turn."""
        request = pb.ChatRequest(request_id=f"r-{key}-{len(texts)}", model="sonnet")
        if max_tokens is not None:
            request.max_tokens = max_tokens
        for n, text in enumerate(texts):
            role = pb.ROLE_USER if n % 2 == 0 else pb.ROLE_ASSISTANT
            request.messages.add(role=role).content.add(text=text)
        events = [event async for event in self.runner.run(request, key)]
        sessions = [e.session for e in events if e.HasField("session")]
        text = "".join(e.text.text for e in events if e.HasField("text"))
        return sessions[-1], text, events

    def stdin(self, pid: int) -> list[dict[str, object]]:
        path = self.stdin_dir / f"{pid}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def pids(self, state: ChildState) -> list[int]:
        return [c.pid for c in self.table.all() if c.state is state]

    async def until(self, what: str, check: object) -> None:
        for _ in range(200):
            if callable(check) and check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def close(self) -> None:
        await self.engine.close()
        await self.table.stop_all(0.5)


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[Worker]:
    w = Worker(tmp_path)
    await w.engine.start()
    yield w
    await w.close()


def user_lines(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if line.get("type") in ("user", "assistant")]


async def test_a_warm_process_serves_a_new_conversation_without_a_spawn(worker: Worker) -> None:
    first, text, _ = await worker.ask("a", "hello")
    # Nothing was warm: the request asked for a start and claimed it while it started.
    assert (first.served, text) == ("warm", "fake says: hello")
    assert worker.engine.claimed_starting == 1
    await worker.until("two warm processes", lambda: len(worker.pids(ChildState.READY)) == 2)
    warm = set(worker.pids(ChildState.READY))

    second, text, _ = await worker.ask("b", "again")

    assert second.served == "warm" and second.pid in warm
    assert text == "fake says: again"
    lines = worker.stdin(second.pid)
    assert lines[0]["type"] == "control_request"  # initialize came before any request
    assert [line["message"] for line in user_lines(lines)] == [{"role": "user", "content": "again"}]


async def test_a_taken_warm_process_is_replaced_once_its_turn_answers(worker: Worker) -> None:
    """Not while the request waits for its CLI: a start-up then takes the CPU that CLI needs."""
    await worker.ask("a", "teach the signature")
    await worker.until("two warm processes", lambda: len(worker.pids(ChildState.READY)) == 2)
    before = {child.pid for child in worker.table.all()}
    request = pb.ChatRequest(request_id="r-slow", model="sonnet")
    request.messages.add(role=pb.ROLE_USER).content.add(text="FAKE:sleep:0.5 hello")
    at_first_output: set[int] = set()

    async for event in worker.runner.run(request, "b"):
        if is_output(event) and not at_first_output:
            at_first_output = {child.pid for child in worker.table.all()}

    assert at_first_output == before  # half a second of silence, and no spawn meanwhile
    await worker.until("the replacement", lambda: len(worker.pids(ChildState.READY)) == 2)


async def test_a_continued_conversation_writes_only_the_new_turn(worker: Worker) -> None:
    first, reply, _ = await worker.ask("conv", "hi")
    assert worker.pids(ChildState.PARKED) == [first.pid]

    second, text, _ = await worker.ask("conv", "hi", reply, "and now?")

    assert (second.served, second.pid, second.rebuild_reason) == ("live", first.pid, "")
    assert text == "fake says: and now?"
    turns = user_lines(worker.stdin(first.pid))
    assert [t["message"]["content"] for t in turns] == ["hi", "and now?"]  # type: ignore[index]
    new_line = json.dumps(turns[-1], ensure_ascii=False)
    assert second.bytes_written == len(new_line.encode()) + 1 < first.bytes_written * 2
    third, _, _ = await worker.ask("conv", "hi", reply, "and now?", text, "third")
    assert (third.served, third.pid) == ("live", first.pid)


async def test_an_edited_history_is_rebuilt_from_the_edited_messages(worker: Worker) -> None:
    first, _, _ = await worker.ask("conv", "hi")

    second, text, _ = await worker.ask("conv", "hi", "an answer I rewrote", "go on")

    assert second.served in ("warm", "cold") and second.rebuild_reason == "edited"
    assert second.pid != first.pid and text == "fake says: go on"
    replay = user_lines(worker.stdin(second.pid))
    assert [(t["type"], t.get("shouldQuery")) for t in replay] == [
        ("user", False),
        ("assistant", None),
        ("user", None),
    ]
    assert replay[1]["message"]["content"] == [  # type: ignore[index]
        {"type": "text", "text": "an answer I rewrote"}
    ]


async def test_a_turn_that_failed_is_never_continued(worker: Worker) -> None:
    first, _, events = await worker.ask("conv", "FAKE:error please")
    assert any(e.HasField("error") for e in events)
    await worker.until("the failed process to go", lambda: worker.table.get(first.pid) is None)
    assert not psutil.pid_exists(first.pid) or psutil.Process(first.pid).status() == "zombie"

    second, _, _ = await worker.ask("conv", "FAKE:error please", "sorry", "again")

    assert second.pid != first.pid and second.rebuild_reason == "failed"


async def test_the_answer_does_not_wait_for_the_retired_process_to_exit(tmp_path: Path) -> None:
    """With nothing kept idle every process is retired after its turn; the run's stream ends
    while the process is still exiting (a CLI takes about 10 ms after SIGINT)."""
    stubborn = tmp_path / "stubborn-claude"  # answers, then holds on until SIGKILL
    stubborn.write_text(f"#!/bin/sh\ntrap '' INT TERM\n{FAKE_CLAUDE} \"$@\"\nsleep 60\n")
    stubborn.chmod(0o755)
    worker = Worker(tmp_path, bin_path=stubborn, warm_processes=0, max_idle_processes=0)
    await worker.engine.start()
    try:
        info, text, _ = await worker.ask("a", "hi")

        assert text == "fake says: hi"
        child = worker.table.get(info.pid)
        assert child is not None and child.state is ChildState.STOPPING
        assert psutil.Process(info.pid).status() != psutil.STATUS_ZOMBIE
        assert worker.engine.pool.get(info.pid) is None
        await worker.until("the process to be killed", lambda: worker.table.get(info.pid) is None)
        assert child.proc.returncode == -signal.SIGKILL
    finally:
        await worker.close()


async def test_idle_processes_are_evicted_least_recently_used_first(tmp_path: Path) -> None:
    worker = Worker(tmp_path, warm_processes=0, max_idle_processes=2)
    await worker.engine.start()
    try:
        a, reply_a, _ = await worker.ask("a", "one")
        b, _, _ = await worker.ask("b", "two")
        assert sorted(worker.pids(ChildState.PARKED)) == sorted([a.pid, b.pid])
        c, _, _ = await worker.ask("c", "three")

        assert sorted(worker.pids(ChildState.PARKED)) == sorted([b.pid, c.pid])
        assert worker.engine.pool.get(a.pid) is None  # never lent again; it exits meanwhile
        await worker.until("the evicted process to go", lambda: worker.table.get(a.pid) is None)
        again, _, _ = await worker.ask("a", "one", reply_a, "back")
        assert (again.served, again.rebuild_reason) == ("warm", "evicted")  # a claimed start
    finally:
        await worker.close()


async def test_a_warm_process_failing_its_first_message_falls_back_to_cold(
    worker: Worker,
) -> None:
    await worker.ask("a", "teach the signature")
    await worker.until("a warm process", lambda: worker.pids(ChildState.READY))

    _, text, events = await worker.ask("b", "FAKE:crash_if_warm hello")

    served = [e.session.served for e in events if e.HasField("session")]
    assert served == ["warm", "cold"]
    assert [e.activity.kind for e in events if e.HasField("activity")] == ["warm_fallback"]
    assert not any(e.HasField("error") for e in events)  # the client never saw the failure
    assert text == "fake says: FAKE:crash_if_warm hello"
    assert len(worker.engine.pool.fallbacks(0.0)) == 1


async def test_the_reaper_retires_idle_processes_past_their_limits(tmp_path: Path) -> None:
    worker = Worker(tmp_path, warm_processes=1)
    await worker.engine.start()
    try:
        first, _, _ = await worker.ask("a", "hi")
        await worker.until("a warm process", lambda: worker.pids(ChildState.READY))
        worker.engine.pool.limits = replace(
            worker.engine.pool.limits, warm_max_age_s=0.0, conversation_idle_s=0.0
        )
        await worker.reaper.tick()
        reasons = {r.pid: r.reason for r in worker.reaper.recent}
        assert reasons[first.pid] == "conversation_idle"
        assert "warm_age" in reasons.values()
    finally:
        await worker.close()


async def test_close_leaves_no_warm_or_parked_process(tmp_path: Path) -> None:
    worker = Worker(tmp_path)
    await worker.engine.start()
    await worker.ask("a", "hi")
    await worker.until("two warm processes", lambda: len(worker.pids(ChildState.READY)) == 2)
    pids = [c.pid for c in worker.table.all()]
    assert len(pids) == 3

    await worker.close()

    assert worker.table.all() == []
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


async def test_a_sweep_during_spawns_never_takes_a_new_child_for_a_stray(tmp_path: Path) -> None:
    """The reaper's stray scan and spawns race; registration and the scan share a lock."""
    worker = Worker(tmp_path, max_idle_processes=0)
    # Marked as the worker's children are: the sweep would take them for its strays.
    env = {
        "PATH": "/usr/bin:/bin",
        MARKER: "w",
        STATE_MARKER: str(worker.config.paths.root),
    }

    async def spawn() -> int:
        child = await worker.table.spawn(["sleep", "30"], env, str(tmp_path), "", "m")
        return child.pid

    async def sweep() -> None:
        for _ in range(40):
            await worker.reaper.tick()

    try:
        pids, _ = await asyncio.gather(asyncio.gather(*(spawn() for _ in range(20))), sweep())
        assert not [r for r in worker.reaper.recent if r.reason == "orphaned tool"]
        assert all(worker.table.get(pid) is not None for pid in pids)
        assert all(psutil.Process(pid).status() != "zombie" for pid in pids)
    finally:
        await worker.close()


async def test_an_agent_conversation_keeps_its_work_dir_live_and_rebuilt(tmp_path: Path) -> None:
    worker = Worker(tmp_path, mode="agent")
    await worker.engine.start()
    try:
        first, reply, _ = await worker.ask("conv", "make a file")
        workdir = psutil.Process(first.pid).cwd()
        assert workdir.startswith(str(worker.config.work_root))
        live, _, _ = await worker.ask("conv", "make a file", reply, "and another")
        assert live.served == "live" and psutil.Process(live.pid).cwd() == workdir

        rebuilt, _, _ = await worker.ask("conv", "make a file", "edited", "again")

        assert rebuilt.rebuild_reason == "edited" and rebuilt.pid != first.pid
        assert psutil.Process(rebuilt.pid).cwd() == workdir
        other, _, _ = await worker.ask("other", "a new conversation")
        assert psutil.Process(other.pid).cwd() != workdir
    finally:
        await worker.close()


async def test_new_sampling_settings_go_to_a_live_process_without_a_rebuild(
    worker: Worker,
) -> None:
    def controls() -> list[dict[str, object]]:
        return [line for line in worker.stdin(first.pid) if line["type"] == "control_request"]

    first, reply, _ = await worker.ask("conv", "hi", max_tokens=100)
    before = len(controls())  # a started process: initialize, and its first turn's settings

    second, reply2, _ = await worker.ask("conv", "hi", reply, "longer please", max_tokens=900)

    assert (second.served, second.pid) == ("live", first.pid)
    assert [c["request"] for c in controls()[before:]] == [  # before the new turn, once
        {
            "subtype": "apply_flag_settings",
            "settings": {
                "env": {
                    "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "900",
                    "CLAUDE_CODE_EXTRA_BODY": "",
                    "CLAUDE_CODE_DISABLE_THINKING": "",
                }
            },
        }
    ]
    history = ("hi", reply, "longer please", reply2, "more")
    third, _, _ = await worker.ask("conv", *history, max_tokens=900)
    assert third.served == "live"  # the same settings again: nothing to send
    assert len(controls()) == before + 1


async def test_the_sweep_stops_only_children_with_the_workers_markers(tmp_path: Path) -> None:
    """Orphaned tools inherit their CLI's markers; any other child is not the worker's."""
    worker = Worker(tmp_path, max_idle_processes=0)
    marked = {MARKER: "w", STATE_MARKER: str(worker.config.paths.root), "PATH": "/usr/bin:/bin"}
    # Tools run in sessions of their own (the sweep stops whole process groups).
    stray = await asyncio.create_subprocess_exec("sleep", "30", env=marked, start_new_session=True)
    other = await asyncio.create_subprocess_exec(
        "sleep", "30", env={"PATH": "/usr/bin:/bin"}, start_new_session=True
    )
    try:
        await worker.reaper.tick()
        assert await asyncio.wait_for(stray.wait(), 5) != 0  # stopped as an orphaned tool
        assert other.returncode is None and psutil.Process(other.pid).status() != "zombie"
        assert [r.pid for r in worker.reaper.recent if r.reason == "orphaned tool"] == [stray.pid]
    finally:
        other.kill()
        await other.wait()
        await worker.close()


def test_which_rebuilds_go_in_by_resume(tmp_path: Path) -> None:
    """2.1.332 (system turns): every rebuild of a known model, unless it awaits tool results;
    older CLIs and unknown models: only long histories (docs/claude-cli.md, "Rebuilds")."""
    spawner = Worker(tmp_path).engine.spawner
    short = [Turn("user", [{"type": "text", "text": "q"}]), Turn("assistant", [])]
    call = Turn("assistant", [{"type": "tool_use", "id": "t", "name": "x", "input": {}}])
    long = short * (RESUME_MIN_TURNS // 2)
    assert not spawner.resumes("sonnet", short) and spawner.resumes("sonnet", long)
    spawner.cli_version = (2, 1, 332)
    assert spawner.resumes("sonnet", short) and spawner.resumes("claude-opus-4-7", short)
    assert not spawner.resumes("sonnet", [*short[:1], call])
    assert not spawner.resumes("claude-unknown-1", short)
    spawner.cli_version = (2, 1, 197)
    assert not spawner.resumes("sonnet", short)
