"""CLI children: spawn in their own process group, read their output, stop them for sure.

Stopping follows docs/claude-cli.md ("Stopping a CLI"): SIGINT first (the CLI ends its turn and
kills its tool processes), close stdin, then SIGTERM and finally SIGKILL to the whole process
group. Tool processes run in sessions of their own, so the descendants seen before the first
signal are stopped too, group by group, once the CLI is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVarTuple

import psutil

from workerd.cli.bridge import Bridge
from workerd.cli.memory import rss_of
from workerd.cli.states import ChildState, check_transition

logger = logging.getLogger(__name__)
Ts = TypeVarTuple("Ts")
STDOUT_LIMIT = 64 * 1024 * 1024  # a single stream-json line can be very large (docs/claude-cli.md)
STDERR_TAIL = 8 * 1024


class PidfdWatcher(asyncio.AbstractChildWatcher):
    """Child exits seen through a pidfd read by the running loop (asyncio's way from 3.12).

    Python 3.11's default watcher starts a thread per child, and every spawn waits until that
    thread runs: 0.3 ms on an idle machine and milliseconds on a busy one, on each cold
    request's path, and then a thread blocked in waitpid for as long as the CLI lives."""

    def add_child_handler(
        self, pid: int, callback: Callable[[int, int, *Ts], object], *args: *Ts
    ) -> None:
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        loop.add_reader(pidfd, self._reap, loop, pid, pidfd, callback, args)

    @staticmethod
    def _reap(
        loop: asyncio.AbstractEventLoop,
        pid: int,
        pidfd: int,
        callback: Callable[..., object],
        args: tuple[Any, ...],
    ) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = 255  # reaped elsewhere: asyncio's own watchers report 255 too
        callback(pid, code, *args)

    def remove_child_handler(self, pid: int) -> bool:
        return True  # asyncio never calls it

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass  # every handler goes to the loop running when it is added

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> PidfdWatcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass


@functools.cache
def pidfd_supported() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):  # not Linux 5.3+, or refused by a seccomp profile
        return False
    return True


def watch_children_by_pidfd() -> None:
    """Before a spawn: asyncio's child watcher is a PidfdWatcher where that helps (3.11 with
    asyncio's own loop; uvloop watches its children itself)."""
    if sys.version_info >= (3, 12) or not pidfd_supported():
        return
    if not isinstance(asyncio.get_running_loop(), asyncio.SelectorEventLoop):
        return
    policy = asyncio.get_event_loop_policy()
    if not isinstance(policy.get_child_watcher(), PidfdWatcher):
        policy.set_child_watcher(PidfdWatcher())


class CliProcess:
    """One running `claude` child and everything we know about it."""

    def __init__(self, proc: asyncio.subprocess.Process, request_id: str, model: str) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.request_id = request_id
        self.model = model
        self.state = ChildState.STARTING
        self.started_at = time.monotonic()
        self.busy_since = self.started_at  # start of the current turn (or of the process)
        self.last_output_at = self.started_at
        self.conversation = ""  # short id of the conversation it runs or holds
        self.signature = ""  # short id of its spawn signature
        self.sampling: dict[str, str] = {}  # the sampling settings it runs with now
        self.bridge: Bridge | None = None  # the MCP server of the client's tools, if any
        # Reads the lines the CLI addresses to the host (our MCP server); True: consumed.
        self.intercept: Callable[[bytes], Awaitable[bool]] | None = None
        self.stderr_tail = b""
        self.kill_reason = ""  # set by whoever decided to stop it: "idle", "age", "orphaned", ...
        self._interrupted = False
        self.idle_limit_s = 0.0  # 0: no limit
        self.workdir: Path | None = None
        self.owner: asyncio.Task[object] | None = asyncio.current_task()
        self._psutil: psutil.Process | None = None  # made on first use: see _ps
        self._stderr_task = asyncio.get_running_loop().create_task(self._drain_stderr())

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], env: dict[str, str], cwd: str, request_id: str, model: str
    ) -> CliProcess:
        watch_children_by_pidfd()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            limit=STDOUT_LIMIT,
        )
        return cls(proc, request_id, model)

    def lend(self, request_id: str, idle_limit_s: float) -> None:
        """READY, PARKED or STARTING -> RUNNING: a turn for `request_id`, owned by this task."""
        self._move(ChildState.RUNNING)
        self.request_id = request_id
        self.owner = asyncio.current_task()
        self.busy_since = self.last_output_at = time.monotonic()
        self.idle_limit_s = idle_limit_s

    def settle(self, state: ChildState) -> None:
        """STARTING -> READY, or RUNNING -> PARKED: idle, owned by nobody, no silence limit."""
        self._move(state)
        self.owner = None
        self.idle_limit_s = 0.0
        self.busy_since = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def _ps(self) -> psutil.Process | None:
        """psutil's handle on the child, made on first use: reading /proc while the CLI starts
        takes up to 3 ms (its memory is busy), which the spawn no longer waits for. Made while
        the child is not yet reaped, it is ours (a pid is not reused before we reap it), and it
        pins the identity from then on: no signal goes to a stranger who got the pid later."""
        if self._psutil is None and self.alive:
            with contextlib.suppress(psutil.Error):
                self._psutil = psutil.Process(self.pid)
        return self._psutil

    def rss_bytes(self) -> int:
        return rss_of(self._ps())

    def process(self) -> psutil.Process | None:
        """The psutil handle (None once gone): what the pool's memory readings read."""
        return self._ps()

    def _move(self, target: ChildState) -> None:
        if self.state is target:
            return
        check_transition(self.state, target)
        logger.info("child %d %s -> %s", self.pid, self.state.value, target.value)
        self.state = target

    async def send_lines(self, lines: Sequence[str]) -> None:
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            return
        stdin.write("".join(line + "\n" for line in lines).encode())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.drain()

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def read_raw_line(self) -> bytes:
        """The next stdout line as it is, b'' at end of output."""
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        self.last_output_at = time.monotonic()
        return line

    async def read_line(self) -> bytes:
        """The next stdout line for the run, b'' at end of output (requests the CLI makes of
        the host are answered on the way and never returned)."""
        while True:
            line = await self.read_raw_line()
            if not line or self.intercept is None or not await self.intercept(line):
                return line

    async def wait(self) -> int:
        code = await self.proc.wait()
        await asyncio.gather(self._stderr_task, return_exceptions=True)
        if self.state is not ChildState.EXITED:
            self._move(ChildState.EXITED)
        return code

    def mark_stopping(self, reason: str) -> None:
        """Nobody's any more, before the signals go: the reaper leaves a stopping child alone."""
        self.kill_reason = self.kill_reason or reason
        if self.alive:
            self._move(ChildState.STOPPING)

    def interrupt(self, reason: str = "") -> None:
        """SIGINT and stdin closed, now, not in a task's turn: a CLI left running a moment
        after its answer goes on by itself (after a max_tokens stop it asks the model to
        continue), and that upstream call would cost the account for nothing."""
        self.mark_stopping(reason)
        if self.proc.returncode is None and not self._interrupted:
            self._interrupted = True  # once: a second SIGINT would cut its clean exit short
            self._signal(signal.SIGINT, group=False)
        self.close_stdin()

    async def stop(self, grace_s: float, reason: str = "") -> None:
        """Interrupt, then TERM, then KILL the process group and leftover tools; waits for all."""
        if self.proc.returncode is not None:
            self.mark_stopping(reason)
            await self.wait()
            return
        ps = self._ps()  # made before the interrupt: the exit must not race its making
        self.interrupt(reason)
        # A scan of every process on the machine (about 2 ms at 100 processes): off the loop,
        # while the CLI exits. A tool orphaned before the scan sees it is workerd's child (a
        # subreaper): the reaper stops it.
        descendants = await asyncio.to_thread(_descendants, ps)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if await self._exited_within(grace_s):
                break
            logger.warning("child %d still alive, sending %s", self.pid, sig.name)
            self._signal(sig, group=True)
        await self.wait()
        if descendants:  # a chat CLI has none: no thread hop for nothing
            await asyncio.to_thread(kill_process_groups, descendants, grace_s)

    async def _exited_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), seconds)
        except TimeoutError:
            return False
        return True

    def _signal(self, sig: signal.Signals, group: bool) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.pid, sig)
            elif (ps := self._ps()) is not None and ps.is_running():
                ps.send_signal(sig)

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL:]

    def age_s(self) -> float:
        return time.monotonic() - self.started_at

    def busy_s(self) -> float:
        """How long its current turn has run (the reaper's age limit is per turn)."""
        return time.monotonic() - self.busy_since

    def idle_s(self) -> float:
        return time.monotonic() - self.last_output_at


def _descendants(process: psutil.Process | None) -> list[psutil.Process]:
    try:
        return process.children(recursive=True) if process is not None else []
    except psutil.Error:
        return []


def kill_process_groups(processes: Sequence[psutil.Process], grace_s: float) -> None:
    """TERM each live process's group, then KILL what is left after `grace_s` (blocking)."""
    alive = [p for p in processes if is_live_process(p)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for process in alive:
            with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(process.pid), sig)
        _, alive = psutil.wait_procs(alive, timeout=grace_s)
        if not alive:
            return


def is_live_process(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class ProcessTable:
    """Every child this workerd started and has not yet seen exit.

    A child is registered under `registering`, and the reaper looks for strays under the same
    lock: a child forked but not yet registered is never taken for an orphan.
    """

    def __init__(self) -> None:
        self._children: dict[int, CliProcess] = {}
        self.registering = asyncio.Lock()

    async def spawn(
        self, argv: Sequence[str], env: dict[str, str], cwd: str, request_id: str, model: str
    ) -> CliProcess:
        async with self.registering:
            child = await CliProcess.spawn(argv, env, cwd, request_id, model)
            self.add(child)
        return child

    def add(self, child: CliProcess) -> None:
        self._children[child.pid] = child

    def remove(self, child: CliProcess) -> None:
        self._children.pop(child.pid, None)

    def get(self, pid: int) -> CliProcess | None:
        return self._children.get(pid)

    def all(self) -> list[CliProcess]:
        return list(self._children.values())

    async def stop_all(self, grace_s: float) -> None:
        await asyncio.gather(*(child.stop(grace_s) for child in self.all()), return_exceptions=True)
