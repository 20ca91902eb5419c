"""Start pacing: how many CLI start-ups at once make a burst's processes ready soonest.

M pinned `claude` processes are started the way the workerd starts warm ones: the proxy's argv
and child environment for a plain chat (bench.overhead.direct_cli, built by build_invocation and
child_env), each in a new session (CliProcess.spawn), and "ready" when it has answered the
`initialize` control request with success (workerd.cli.control.control, what the engine's
handshake waits for). At most k start at once: a start's place frees when its process is ready,
as in the engine's warm pool (_start_wanted counts the handshakes still going). Ready processes
stay up, idle, until all M are ready, as warm ones do; then all are stopped.

Rounds interleave the k (each k once per round, the order rotated round by round), so that a
change in the shared machine's load falls on every k alike. Per k, with times from the moment
the round asked for its M processes:
  first ready  the first process ready (median over rounds)
  mean ready   the mean over the M of the time each was ready: what M requests waiting for
               them would wait on average (median over rounds)
  all ready    the last one ready (median over rounds)
  one start    spawn to ready of each start (median and p95 over every start of every round)
  CPU a start  user+system CPU of a process (and its descendants) when it became ready

Recommended: of the k whose all-ready is within ALL_READY_SLACK of the best k's, the one with
the least mean ready (the first processes soonest without delaying the last); ties go to the
smaller k.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.overhead import DirectCli, direct_cli
from bench.procs import Elsewhere
from bench.report import write_result
from tests.mock_upstream import MockUpstream
from workerd.cli.control import control
from workerd.cli.process import CliProcess

STARTS = int(os.environ.get("BENCH_PACING_STARTS", "8"))  # M
AT_ONCE = (1, 2, 3, 4, 8)  # k
ROUNDS = int(os.environ.get("BENCH_PACING_ROUNDS", "10"))
ALL_READY_SLACK = 1.10  # "without delaying the last": within 10 % of the best all-ready
STOP_GRACE_S = 2.0
BUSY_SHARE = 0.15  # other work beyond this share of the cores makes a run unreliable


@dataclass
class Round:
    """One round of M starts at most k at once; times in seconds from the round's begin."""

    at_once: int
    ready_at: list[float] = field(default_factory=list)
    start_s: list[float] = field(default_factory=list)  # spawn to ready, each start
    cpu_s: list[float] = field(default_factory=list)  # CPU of each process when ready


def _tree_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process and its live descendants."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for each in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = each.cpu_times()
            total += times.user + times.system
    return total


async def _start_one(
    cli: DirectCli, home: Path, gate: asyncio.Semaphore, begin: float, found: Round
) -> CliProcess:
    async with gate:  # held until ready: the engine counts a start until its handshake ends
        spawned = time.monotonic()
        child = await CliProcess.spawn(cli.argv, cli.env, str(home), "", "sonnet")
        if not await control(child, {"subtype": "initialize"}):
            await child.stop(STOP_GRACE_S, "bench")
            raise RuntimeError(f"CLI {child.pid} did not answer initialize: {child.stderr_tail!r}")
        ready = time.monotonic()
    found.ready_at.append(ready - begin)
    found.start_s.append(ready - spawned)
    found.cpu_s.append(_tree_cpu_s(child.pid))
    return child


async def _round(cli: DirectCli, home: Path, at_once: int, starts: int) -> Round:
    """`starts` processes, at most `at_once` starting at a time; all stopped afterwards."""
    found = Round(at_once)
    gate = asyncio.Semaphore(at_once)
    begin = time.monotonic()
    tasks = [asyncio.create_task(_start_one(cli, home, gate, begin, found)) for _ in range(starts)]
    done = await asyncio.gather(*tasks, return_exceptions=True)
    children = [child for child in done if isinstance(child, CliProcess)]
    await asyncio.gather(*(child.stop(STOP_GRACE_S, "bench") for child in children))
    failures = [error for error in done if isinstance(error, BaseException)]
    if failures:
        raise failures[0]
    found.ready_at.sort()
    return found


async def _rounds(base_url: str, home: Path) -> list[Round]:
    cli = direct_cli(base_url, home)
    await _round(cli, home, 1, 2)  # unmeasured: the binary and its files into the page cache
    rounds: list[Round] = []
    for n in range(ROUNDS):
        shift = n % len(AT_ONCE)
        for at_once in AT_ONCE[shift:] + AT_ONCE[:shift]:
            rounds.append(await _round(cli, home, at_once, STARTS))
    return rounds


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def summarise(rounds: list[Round]) -> dict[int, dict[str, float]]:
    """Per k: the medians over its rounds and the spread of its single starts (seconds)."""
    summary: dict[int, dict[str, float]] = {}
    for at_once in sorted({r.at_once for r in rounds}):
        mine = [r for r in rounds if r.at_once == at_once]
        starts = [s for r in mine for s in r.start_s]
        summary[at_once] = {
            "first_ready_s": statistics.median(r.ready_at[0] for r in mine),
            "mean_ready_s": statistics.median(statistics.fmean(r.ready_at) for r in mine),
            "all_ready_s": statistics.median(r.ready_at[-1] for r in mine),
            "start_p50_s": statistics.median(starts),
            "start_p95_s": _quantile(starts, 0.95),
            "cpu_per_start_s": statistics.median(c for r in mine for c in r.cpu_s),
        }
    return summary


def recommend(summary: dict[int, dict[str, float]]) -> int:
    """The k with the least mean ready among those within ALL_READY_SLACK of the best
    all-ready; the smaller k on a tie."""
    best_all = min(row["all_ready_s"] for row in summary.values())
    fine = [k for k, row in summary.items() if row["all_ready_s"] <= best_all * ALL_READY_SLACK]
    return min(fine, key=lambda k: (summary[k]["mean_ready_s"], k))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _report(
    summary: dict[int, dict[str, float]], rounds: list[Round], loads: list[Any], other: float
) -> None:
    best = recommend(summary)
    cores = os.cpu_count() or 1
    rows = [
        [
            f"**{k}**" if k == best else str(k),
            _ms(row["first_ready_s"]),
            _ms(row["mean_ready_s"]),
            _ms(row["all_ready_s"]),
            _ms(row["start_p50_s"]),
            _ms(row["start_p95_s"]),
            _ms(row["cpu_per_start_s"]),
        ]
        for k, row in summary.items()
    ]
    cpu = statistics.median(row["cpu_per_start_s"] for row in summary.values())
    table = [
        ("processes started per round (M)", str(STARTS)),
        ("rounds per k (interleaved)", str(ROUNDS)),
        ("cores", str(cores)),
        ("CPU a start takes, spawn to ready (median over every k)", f"{_ms(cpu)} ms"),
        (f"CPU floor of {STARTS} starts on {cores} cores", f"{_ms(STARTS * cpu / cores)} ms"),
        ("**recommended starts at once**", str(best)),
        ("load average (1 min) before / after", " / ".join(f"{x[0]:.2f}" for x in loads)),
        ("share of the cores other work used during the run", f"{other:.0%}"),
    ]
    header = [
        "at once (k)",
        "first ready (ms)",
        "mean ready (ms)",
        "all ready (ms)",
        "one start p50 (ms)",
        "one start p95 (ms)",
        "CPU a start (ms)",
    ]
    notes = [
        f"Recommended: of the k whose all-ready is within {ALL_READY_SLACK - 1:.0%} of the best,"
        " the least mean ready. Times from the moment the round asked for its processes;"
        " medians over rounds (one start: over every start).",
    ]
    if other > BUSY_SHARE:  # more starts at once then also take a bigger share from the others
        notes.append(f"**Other work used {other:.0%} of the cores: run again on a quiet machine.**")
    figures = {
        "starts": STARTS,
        "rounds": ROUNDS,
        "cores": cores,
        "load_average_before_after": loads,
        "other_work_share": other,
        "summary": {str(k): row for k, row in summary.items()},
        "recommended": best,
        "rounds_raw": [vars(r) for r in rounds],
    }
    title = f"{STARTS} CLI starts, at most k at once"
    write_result("start_pacing", figures, table, [(title, header, rows)], notes)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="ccp-pacing-"))
    load_before, begin = os.getloadavg(), Elsewhere.mark()
    try:
        with MockUpstream() as upstream:
            rounds = asyncio.run(_rounds(upstream.base_url, home))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    other = begin.share_until(Elsewhere.mark())
    _report(summarise(rounds), rounds, [load_before, os.getloadavg()], other)
