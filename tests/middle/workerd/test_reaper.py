"""workerd/cli/reaper.py decide(), workdirs.work_dir_for() and process.kill_process_groups()."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import psutil
import pytest

from common.paths import StatePaths
from common.workers import WorkerSpec
from workerd.cli.process import CliProcess, ProcessTable, kill_process_groups
from workerd.cli.reaper import ReapDecision, Reaper, decide
from workerd.cli.settings import CliSettings
from workerd.cli.states import ChildState
from workerd.cli.workdirs import work_dir_for
from workerd.config import WorkerdConfig

pytestmark = pytest.mark.middle

MAX_AGE_S = 100.0


@dataclass
class FakeOwner:
    finished: bool = False

    def done(self) -> bool:
        return self.finished


@dataclass
class FakeChild:
    """Only what decide() reads from a CliProcess."""

    name: str
    age: float = 1.0
    idle: float = 0.0
    idle_limit_s: float = 0.0
    owner: FakeOwner | None = None
    state: ChildState = ChildState.RUNNING

    def busy_s(self) -> float:
        return self.age

    def idle_s(self) -> float:
        return self.idle


def reasons(*children: FakeChild, max_age_s: float = MAX_AGE_S) -> list[tuple[str, str]]:
    decisions = decide(cast(list[CliProcess], list(children)), max_age_s)
    assert all(isinstance(d, ReapDecision) for d in decisions)
    return [(cast(FakeChild, d.child).name, d.reason) for d in decisions]


# --- decide() --------------------------------------------------------------------------------


def test_healthy_children_stay() -> None:
    assert reasons() == []
    assert (
        reasons(
            FakeChild("young"),
            FakeChild("busy", idle=5, idle_limit_s=10),
            FakeChild("owned", owner=FakeOwner(finished=False)),
            FakeChild("no-owner", owner=None),
        )
        == []
    )


def test_too_old_is_reaped_for_age() -> None:
    assert reasons(FakeChild("old", age=MAX_AGE_S + 0.1)) == [("old", "age")]


def test_exactly_max_age_stays() -> None:
    assert reasons(FakeChild("edge", age=MAX_AGE_S)) == []


def test_silent_beyond_its_limit_is_reaped_for_idle() -> None:
    assert reasons(FakeChild("quiet", idle=10.5, idle_limit_s=10)) == [("quiet", "idle")]
    assert reasons(FakeChild("edge", idle=10, idle_limit_s=10)) == []


def test_idle_limit_zero_means_no_limit() -> None:
    assert reasons(FakeChild("agent", idle=1e9, idle_limit_s=0)) == []


def test_finished_owner_means_orphaned() -> None:
    assert reasons(FakeChild("orphan", owner=FakeOwner(finished=True))) == [("orphan", "orphaned")]


def test_age_beats_idle_beats_orphaned() -> None:
    done = FakeOwner(finished=True)
    children = [
        FakeChild("all-three", age=MAX_AGE_S + 1, idle=50, idle_limit_s=10, owner=done),
        FakeChild("idle-and-orphan", idle=50, idle_limit_s=10, owner=done),
        FakeChild("orphan-only", idle=50, idle_limit_s=0, owner=done),
    ]
    assert reasons(*children) == [
        ("all-three", "age"),
        ("idle-and-orphan", "idle"),
        ("orphan-only", "orphaned"),
    ]


def test_one_decision_per_child_in_table_order() -> None:
    children = [
        FakeChild("a", age=MAX_AGE_S * 2),
        FakeChild("b"),
        FakeChild("c", idle=3, idle_limit_s=1),
        FakeChild("d", owner=FakeOwner(finished=True)),
    ]
    assert reasons(*children) == [("a", "age"), ("c", "idle"), ("d", "orphaned")]


@pytest.mark.parametrize("state", [ChildState.READY, ChildState.PARKED, ChildState.STARTING])
def test_idle_processes_are_left_to_the_session_engine(state: ChildState) -> None:
    """Warm and parked processes are silent and owner-less by design: not stale, not orphans."""
    done = FakeOwner(finished=True)
    child = FakeChild("idle", age=MAX_AGE_S * 2, idle=1e6, idle_limit_s=10, owner=done, state=state)
    assert reasons(child) == []


def test_decision_keeps_the_child_object() -> None:
    child = FakeChild("old", age=MAX_AGE_S + 1)
    (decision,) = decide(cast(list[CliProcess], [child]), MAX_AGE_S)
    assert decision.child is cast(CliProcess, child)


# --- work_dir_for() --------------------------------------------------------------------------


def test_work_dir_is_under_the_root() -> None:
    root = Path("/state/workers/w1/work")
    assert work_dir_for(root, "chatcmpl-abc_123") == root / "chatcmpl-abc_123"


@pytest.mark.parametrize(
    "request_id",
    ["../../etc", "/etc/passwd", "a/../../b", "..", ".", "~root", "a b\nc\0d", "$(rm -rf /)"],
)
def test_work_dir_never_escapes_the_root(request_id: str) -> None:
    root = Path("/state/workers/w1/work")
    path = work_dir_for(root, request_id)
    assert path.parent == root
    assert path.name not in ("", ".", "..")
    assert all(ch.isalnum() or ch in "-_" for ch in path.name)


def test_work_dir_drops_unsafe_characters() -> None:
    root = Path("/w")
    assert work_dir_for(root, "../req-1/../x") == root / "req-1x"


@pytest.mark.parametrize("request_id", ["", "...", "/", "!@#"])
def test_work_dir_falls_back_when_nothing_is_left(request_id: str) -> None:
    assert work_dir_for(Path("/w"), request_id) == Path("/w/run")


def test_work_dir_name_is_bounded() -> None:
    path = work_dir_for(Path("/w"), "r" * 500)
    assert path == Path("/w") / ("r" * 64)


# --- kill_process_groups() -------------------------------------------------------------------

GRACE_S = 0.2
PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes the test starts; whatever is left is killed and reaped afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def start_sleep(procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    procs.append(proc)
    return proc


def start_term_ignoring(procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """A group leader that ignores SIGTERM; returns once the trap is in place."""
    proc = subprocess.Popen(
        ["sh", "-c", 'trap "" TERM; echo ready; exec sleep 30'],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    procs.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"  # handshake: SIGTERM is ignored from here on
    return proc


def gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_kill_process_groups_stops_every_group(spawned: list[subprocess.Popen[bytes]]) -> None:
    plain = [start_sleep(spawned), start_sleep(spawned)]
    stubborn = start_term_ignoring(spawned)
    watched = [psutil.Process(proc.pid) for proc in [*plain, stubborn]]
    for proc in spawned:
        assert os.getpgid(proc.pid) == proc.pid  # each is the leader of its own group
    started = time.monotonic()
    kill_process_groups(watched, GRACE_S)
    elapsed = time.monotonic() - started
    assert all(gone(p) for p in watched)
    assert elapsed >= GRACE_S  # the TERM-ignoring one needed the KILL round
    for proc in spawned:
        proc.wait(timeout=5)
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)  # no member of the group is left


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Orphans re-parent to this test process (as they do to workerd) while the test runs."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not available")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def test_kill_process_groups_reaches_other_members_of_the_group(
    spawned: list[subprocess.Popen[bytes]], subreaper: None
) -> None:
    # Like a Bash tool: a shell leads the group and its child shares it; only the shell is named.
    leader = subprocess.Popen(
        ["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE, start_new_session=True
    )
    spawned.append(leader)
    assert leader.stdout is not None
    member_pid = int(leader.stdout.readline())
    status: int | None = None
    try:
        assert os.getpgid(member_pid) == leader.pid
        kill_process_groups([psutil.Process(leader.pid)], GRACE_S)
        leader.wait(timeout=5)
        # The leader is gone, so the member is now our child: its status says how it ended.
        _, status = os.waitpid(member_pid, 0)
    finally:
        if status is None:  # the test failed before reaping it: do not leave it behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(member_pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(member_pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM


def test_kill_process_groups_only_term_when_enough(
    spawned: list[subprocess.Popen[bytes]],
) -> None:
    proc = start_sleep(spawned)
    started = time.monotonic()
    kill_process_groups([psutil.Process(proc.pid)], 10.0)
    assert time.monotonic() - started < 5.0  # returns as soon as all are gone
    proc.wait(timeout=5)


def test_kill_process_groups_ignores_dead_processes(
    spawned: list[subprocess.Popen[bytes]],
) -> None:
    proc = subprocess.Popen(["true"], start_new_session=True)
    spawned.append(proc)
    handle = psutil.Process(proc.pid)
    proc.wait(timeout=5)
    kill_process_groups([handle], GRACE_S)  # no error, nothing to signal
    kill_process_groups([], GRACE_S)


def test_old_agent_work_dirs_are_pruned_and_fresh_ones_kept(tmp_path: Path) -> None:
    config = WorkerdConfig(
        spec=WorkerSpec(name="w", mode="agent"),
        paths=StatePaths(tmp_path),
        claude_bin="/bin/true",
        anthropic_base_url="",
        stream_timeout_ms=1000,
        sync_timeout_ms=1000,
        max_process_age_ms=1000,
        max_idle_ms=1000,
        cli_max_retries=0,
        stop_grace_ms=100,
        cli=CliSettings(workdir_retention_ms=60_000),
    )
    old, fresh = config.work_root / "old-run", config.work_root / "fresh-run"
    for path in (old, fresh):
        (path / "sub").mkdir(parents=True)
        (path / "sub" / "file.txt").write_text("x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))

    Reaper(config, ProcessTable())._prune_workdirs(time.time())

    assert not old.exists()
    assert (fresh / "sub" / "file.txt").exists()
