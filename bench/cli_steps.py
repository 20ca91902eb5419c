"""Where a cold CLI run's time goes inside workerd: each step timed in-process, real CLI.

The real runner, session engine and process table (no gRPC, no other process of the stack)
run the pinned CLI against the mock upstream with nothing kept idle, a new process per run,
interleaved with the same CLI started by hand from the same event loop. Chosen functions are
wrapped with timers for the measurement only; the figures are per run (the sum of a step's
calls in that run), so the steps on the answer's path can be told from the CLI's own time
and from what happens after the answer (the stop).
"""

from __future__ import annotations

import asyncio
import inspect
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common.paths import StatePaths
from common.workers import WorkerSpec
from protos import common_pb2 as pb
from workerd.cli.engine import SessionEngine
from workerd.cli.process import CliProcess, ProcessTable
from workerd.cli.runner import CliRunner
from workerd.cli.settings import CliSettings, SessionSettings
from workerd.cli.stream_json import StreamJsonParser
from workerd.config import WorkerdConfig

RESULT_PREFIX = b'{"type":"result"'
# label: (owner, attribute, on the answer's path)
STEPS: dict[str, tuple[Any, str, bool]] = {
    "build the invocation (argv, lines, env)": (CliRunner, "_invocation", True),
    "take a process (plan, prompt file, spawn)": (SessionEngine, "acquire", True),
    "of which the spawn (fork, exec, pipes, watcher)": (CliProcess, "spawn", True),
    "write the user line": (CliProcess, "send_lines", True),
    "parse the stream-json lines": (StreamJsonParser, "feed_line", True),
    "hand the process back (bookkeeping)": (SessionEngine, "release", True),
    "stop it and clean up (after the answer)": (SessionEngine, "_stop", False),
}


@dataclass
class Steps:
    """Per run: the seconds each step took (summed over its calls in the run)."""

    runs: list[dict[str, float]] = field(default_factory=list)

    def begin(self) -> None:
        self.runs.append(dict.fromkeys(STEPS, 0.0))

    def add(self, label: str, seconds: float) -> None:
        if self.runs:
            self.runs[-1][label] += seconds


def _timer(label: str, steps: Steps, target: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(target):

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return await target(*args, **kwargs)
            finally:
                steps.add(label, time.perf_counter() - begin)

        return timed_async

    def timed(*args: Any, **kwargs: Any) -> Any:
        begin = time.perf_counter()
        try:
            return target(*args, **kwargs)
        finally:
            steps.add(label, time.perf_counter() - begin)

    return timed


@contextmanager
def timing(steps: Steps) -> Iterator[None]:
    """Every step's function wrapped with a timer, and put back afterwards. A classmethod's
    wrapper calls the bound original: only ever called on the class, it needs no binding."""
    with ExitStack() as undo:
        for label, (owner, name, _) in STEPS.items():
            raw = inspect.getattr_static(owner, name)
            setattr(owner, name, _timer(label, steps, getattr(owner, name)))
            undo.callback(setattr, owner, name, raw)
        yield


def worker_config(root: Path, claude_bin: str, base_url: str) -> WorkerdConfig:
    config = WorkerdConfig(
        spec=WorkerSpec(name="steps", mode="cli", token="sk-ant-oat01-bench"),
        paths=StatePaths(root),
        claude_bin=claude_bin,
        anthropic_base_url=base_url,
        stream_timeout_ms=60_000,
        sync_timeout_ms=60_000,
        max_process_age_ms=600_000,
        max_idle_ms=60_000,
        cli_max_retries=1,
        stop_grace_ms=3_000,
        cli=CliSettings(sessions=replace(SessionSettings(), max_idle_processes=0)),
    )
    config.ensure_dirs()
    return config


async def _proxied(runner: CliRunner, steps: Steps) -> float:
    request = pb.ChatRequest(request_id="steps", model="sonnet")
    request.messages.add(role=pb.ROLE_USER).content.add(text="bench steps")
    steps.begin()
    begin = time.perf_counter()
    async for event in runner.run(request):
        assert not event.HasField("error"), event.error.message
    return time.perf_counter() - begin


async def _by_hand(argv: list[str], env: dict[str, str], cwd: Path, line: str) -> float:
    """The same CLI from the same loop, to its result line: the CLI's own time."""
    begin = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        limit=1 << 24,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.close()
    answer = 0.0
    while raw := await proc.stdout.readline():
        if raw.startswith(RESULT_PREFIX):
            answer = time.perf_counter() - begin
    await proc.wait()
    assert answer, "the CLI run by hand gave no result"
    return answer


@dataclass
class StepResult:
    steps: list[dict[str, float]]
    by_hand_s: list[float]
    run_s: list[float]


async def _measure(config: WorkerdConfig, rounds: int, by_hand: Callable[[], Any]) -> StepResult:
    table = ProcessTable()
    engine = SessionEngine(config, table)
    runner = CliRunner(config, engine)
    steps = Steps()
    result = StepResult([], [], [])
    try:
        with timing(steps):
            for n in range(rounds + 1):  # round 0 warms up
                hand = await by_hand()
                run = await _proxied(runner, steps)
                await engine.close()  # the stop of this run, before the next one
                if n:
                    result.by_hand_s.append(hand)
                    result.run_s.append(run)
        result.steps = steps.runs[1:]
    finally:
        await engine.close()
        await table.stop_all(1.0)
    return result


def measure(
    root: Path, claude_bin: str, base_url: str, rounds: int, direct: Callable[[], Any]
) -> StepResult:
    """`direct()` gives the argv, env, cwd and user line of the CLI run by hand."""
    config = worker_config(root, claude_bin, base_url)
    argv, env, cwd, line = direct()

    async def by_hand() -> float:
        return await _by_hand(argv, env, cwd, line)

    return asyncio.run(_measure(config, rounds, by_hand))


def rows(result: StepResult) -> list[list[str]]:
    """Median per run of each step; then the run against the CLI by hand (paired)."""
    table = []
    for label, (_, _, on_path) in STEPS.items():
        median_ms = statistics.median(run[label] for run in result.steps) * 1000
        table.append([label, f"{median_ms:.2f} ms", "yes" if on_path else "no"])
    hand = statistics.median(result.by_hand_s) * 1000
    added = statistics.median(r - h for r, h in zip(result.run_s, result.by_hand_s, strict=True))
    table.append(["the CLI by hand, to its result line", f"{hand:.1f} ms", "(the floor)"])
    table.append(["the run in workerd, added (paired)", f"{added * 1000:.1f} ms", "yes"])
    return table
