"""Bursts of new conversations on one cli worker: time to first token against a cold `claude -p`,
and against the floor two cores allow.

One run against the mock upstream on 127.0.0.1 with the pinned CLI, one stack with the default
settings and one cli worker:

1. Cold `claude -p` started by hand (spawn, user line, first text delta): the yardstick, median
   of COLD_SAMPLES, taken with the stack quiet.
2. The CPU a request costs (PROBES single new conversations, each alone on a quiet stack,
   served by a ready process; means over the probes): user+system CPU (psutil) of the CLI
   process that served it, from the request to its first token and to the end of its stream;
   of the proxy's own processes (frontdoor, controller, workerd, without their children) over
   the same spans; and of the start the pool makes to replace the process taken (a new child
   of the workerd, its CPU once it is ready: spawn to ready). This process's own CPU (the
   client and the mock upstream) is shown, and left out of the floor.
3. Busy machine (measured first, with the pool at its floor, so no burst's demand is in it): a
   CPU load generator on every core, cold by hand measured under it, then BUSY_SEQUENCE new
   conversations 0.5 s apart; their median against that cold.
4. For each burst size N in BURSTS: N new conversations (each its own X-Session-Id and opening)
   sent at once, twice: the first burst of that size (reported as it is) and the same size
   again, once the pool has seen such a burst. Each burst waits until the stack is quiet and
   the pool holds what it wants (its target ready, nothing starting: `_pool_settled`); then
   the ready processes R and the pool's target are noted (whether the pool held the burst).
   Per burst: every request's time to its first streamed content chunk; p50 and p95.

The floor (what the machine's cores allow; `Floor` below). A request's first token needs
`warm` CPU-seconds (the proxy's and the CLI turn's, to the first token) when a ready process
takes it, and `warm + start` when none is left for it (a start, spawn to ready, is CPU too,
whether the request waits for a new process or claims one still starting). With max_concurrent
C, a request beyond the C-th begins only once an earlier turn has ended, which costs `rest`
(proxy and CLI, first token to end of stream) more. On P cores, by the k-th first token at
least the k cheapest requests have had their first token, and k - C turns have ended, so

    floor(k) = max(alone, (min(k, R) * warm + max(0, k - R) * (warm + start)
                           + max(0, k - C) * rest) / P)

where `alone` is the time to first token of one request with the machine to itself (the
fastest probe of part 2 while k <= R, else the fastest cold by hand). The p50 of a burst of N
is its k-th first token with k = the index the p50 takes (as `quantile`), the last its N-th.
The floor leaves out what the pool's own replacement starts and this process cost, so a burst can
only be slower than it; "p50 / floor" says how much, and "CLI starts during" how many
processes were born while the burst ran (beyond N - R, the pool's replacements, whose CPU
the floor does not count). The CPU is measured with the machine quiet (alone), so contention
(caches, switches) is also left out: the floor is a lower bound.

The worker's `max_concurrent` is its default, 4, unless BENCH_MAX_CONCURRENT says otherwise: with
4, the requests of a burst beyond the fourth wait in the queue for a turn to end, by design.
RATE_LIMITS is raised for the run: the built-in pace of an OAuth account (57 requests a minute
for sonnet) would otherwise hold the later bursts back for tens of seconds, which measures the
bench's volume, not the pool.

Goals (issue 22): p50 <= 0.2x cold and p95 <= 0.5x cold for bursts seen before; busy <= 0.3x.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.burst_floor import (
    BURSTS,
    FLOOR,
    FLOOR_HEADER,
    USE_HEADER,
    CpuWatch,
    Floor,
    Probe,
    cpu_table,
    cpu_used,
    floor_from,
    floor_rows,
    ms,
    probe,
    quantile,
    rank,
    use_rows,
)
from bench.procs import Elsewhere
from bench.report import write_result
from bench.sessions import _direct_ttft, _processes, _settle, _turn
from tests.mock_upstream import MockUpstream
from tests.stack import Stack, claude_bin

COLD_SAMPLES = 5
PROBES = 9  # psutil counts CPU in 10 ms ticks: the mean of several
BUSY_SEQUENCE = 8
BUSY_GAP_S = 0.5
POOL_SETTLE_S = 30.0
POOL_LOOK_S = 0.5


# --- the floor -----------------------------------------------------------------------------


# --- CPU probes ----------------------------------------------------------------------------


# --- bursts, and the busy machine ------------------------------------------------------------


def _burst(stack: Stack, size: int, label: str) -> list[float]:
    """`size` new conversations at once; each one's time to first token (seconds), sorted."""
    times: list[float] = [0.0] * size
    errors: list[BaseException] = []
    gate = threading.Barrier(size)

    def one(n: int) -> None:
        try:
            gate.wait()
            opening = [{"role": "user", "content": f"{label} conversation {n} {uuid.uuid4()}"}]
            times[n] = _turn(stack, opening, f"{label}-{n}-{uuid.uuid4().hex[:8]}").ttft_s
        except BaseException as exc:  # reported after the burst, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sorted(times)


def _spin(stop: Any) -> None:
    while not stop.is_set():
        pass


@contextmanager
def _busy_cores() -> Iterator[None]:
    """A CPU load generator on every core (the "machine busy with other work" case)."""
    stop = multiprocessing.Event()
    spinners = [
        multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        for _ in range(os.cpu_count() or 2)
    ]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join(5)
            if spinner.is_alive():
                spinner.kill()


def _sequence(stack: Stack, count: int, gap_s: float) -> list[float]:
    """`count` new conversations started `gap_s` apart (each in its own thread)."""
    times: list[float] = [0.0] * count

    def one(n: int) -> None:
        opening = [{"role": "user", "content": f"busy conversation {n} {uuid.uuid4()}"}]
        times[n] = _turn(stack, opening, f"busy-{n}-{uuid.uuid4().hex[:8]}").ttft_s

    threads = []
    for n in range(count):
        thread = threading.Thread(target=one, args=(n,))
        thread.start()
        threads.append(thread)
        time.sleep(gap_s)  # the arrival pattern under test, not a synchronisation
    for thread in threads:
        thread.join()
    return times


def _pool(stack: Stack) -> dict[str, int]:
    """The worker's pool as /metrics shows it (target, ready, starting, ...)."""
    status, body = stack.get("/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    pool: dict[str, int] = body["sessions"]["byWorker"]["1"]["pool"]
    return pool


def _pool_settled(stack: Stack, anomalies: list[str], what: str) -> tuple[int, int]:
    """Quiet, and the pool holding what it wants (`ready >= target`, nothing starting) at two
    looks POOL_LOOK_S apart (the figures come with the worker's status, every 200 ms): the
    process table alone is quiet for a moment between one start and the next. Its ready
    processes and its target, then."""
    deadline = time.monotonic() + POOL_SETTLE_S
    looks = 0
    while looks < 2:
        _settle(stack, FLOOR, anomalies, what)
        pool = _pool(stack)
        held = pool["starting"] == 0 and pool["ready"] >= pool["target"]
        looks = looks + 1 if held else 0
        if time.monotonic() > deadline:
            anomalies.append(f"{what}: pool {pool['ready']} ready of {pool['target']} wanted")
            break
        time.sleep(POOL_LOOK_S)  # the next status the controller polls, not a synchronisation
    ready = sum(1 for p in _processes(stack) if p["state"] == "ready")
    return ready, int(_pool(stack)["target"])


def _measure(stack: Stack, base_url: str, home: Path, anomalies: list[str]) -> dict[str, Any]:
    _direct_ttft(base_url, home)  # unmeasured: page cache
    _turn(stack, [{"role": "user", "content": "warm-up"}], "warm-up")  # learns the signature
    _settle(stack, FLOOR, anomalies, "before cold")
    colds = [_direct_ttft(base_url, home) for _ in range(COLD_SAMPLES)]
    watch = CpuWatch(stack)
    probes = [p for _ in range(PROBES) if (p := probe(stack, watch, anomalies)) is not None]
    with _busy_cores():
        busy_cold = statistics.median(_direct_ttft(base_url, home) for _ in range(3))
        _settle(stack, FLOOR, anomalies, "before busy")
        busy = _sequence(stack, BUSY_SEQUENCE, BUSY_GAP_S)
    bursts: dict[str, dict[str, dict[str, Any]]] = {}
    for size in BURSTS:
        bursts[str(size)] = {}
        for label in ("first", "seen"):
            ready, target = _pool_settled(stack, anomalies, f"before burst {size} {label}")
            before, machine = watch.mark(), Elsewhere.mark()
            times = _burst(stack, size, f"b{size}{label}")
            used = cpu_used(before, watch.mark(), machine, Elsewhere.mark())
            bursts[str(size)][label] = {"times": times, "ready": ready, "target": target, **used}
    return {
        "cold_s": statistics.median(colds),
        "cold_samples_s": colds,
        "probes": [vars(p) for p in probes],
        "bursts": bursts,
        "busy_cold_s": busy_cold,
        "busy_s": busy,
    }


# --- the report ----------------------------------------------------------------------------


def _loads(loads: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in loads)


def _burst_rows(figures: dict[str, Any], floor: Floor) -> list[list[str]]:
    cold, rows = figures["cold_s"], []
    for size, runs in figures["bursts"].items():
        for label, run in runs.items():
            times, ready, target = run["times"], run["ready"], run["target"]
            p50, p95, last = quantile(times, 0.5), quantile(times, 0.95), times[-1]
            p50_floor = floor.kth(rank(len(times), 0.5), ready)
            last_floor = floor.kth(len(times), ready)
            rows.append(
                [
                    size,
                    label,
                    f"{ready} / {target}",
                    str(run["started"]),
                    ", ".join(ms(t) for t in times),
                    f"{p50 / cold:.2f}",
                    f"{p95 / cold:.2f}",
                    ms(p50_floor),
                    f"{p50_floor / cold:.2f}",
                    f"{p50 / p50_floor:.1f}",
                    ms(last_floor),
                    f"{last / last_floor:.1f}",
                ]
            )
    return rows


BURST_HEADER = [
    "at once",
    "burst",
    "ready / pool target before",
    "CLI starts during",
    "each (ms)",
    "p50 / cold (goal <= 0.2)",
    "p95 / cold (goal <= 0.5)",
    "p50 floor (ms)",
    "p50 floor / cold",
    "p50 / floor",
    "last (= p95) floor (ms)",
    "last / floor",
]


def _run(concurrent: int) -> tuple[dict[str, Any], list[str]]:
    anomalies: list[str] = []
    worker = {"name": "1", "bin": claude_bin(), "token": "sk-ant-oat01-bench", "mode": "cli"}
    workers = [{**worker, "max_concurrent": concurrent}]
    unpaced = json.dumps({"sonnet": {"rpm": 100_000, "tpm": 1_000_000_000}})
    home = Path(tempfile.mkdtemp(prefix="ccp-bench-"))
    with MockUpstream() as upstream:
        settings = {"WORKERS": json.dumps(workers), "RATE_LIMITS": unpaced}
        stack = Stack({**settings, "ANTHROPIC_BASE_URL": upstream.base_url})
        try:
            stack.start()
            figures = _measure(stack, upstream.base_url, home, anomalies)
        finally:
            if stack.process is not None:
                stack.stop()
            shutil.rmtree(home, ignore_errors=True)
    return figures, anomalies


def main() -> None:
    concurrent = int(os.environ.get("BENCH_MAX_CONCURRENT", "4"))
    load_before, begin = os.getloadavg(), Elsewhere.mark()
    figures, anomalies = _run(concurrent)  # the stack stopped: its CPU is in our children's
    load_after, other = os.getloadavg(), begin.share_until(Elsewhere.mark())
    cold = figures["cold_s"]
    probes = [Probe(**p) for p in figures["probes"]]
    floor = floor_from(probes, min(figures["cold_samples_s"]), concurrent)
    busy = statistics.median(figures["busy_s"])
    table = [
        ("cold `claude -p` by hand, time to first token (median)", ms(cold)),
        ("busy machine: cold by hand (median)", ms(figures["busy_cold_s"])),
        (
            f"busy machine: {BUSY_SEQUENCE} new conversations {BUSY_GAP_S} s apart (median)",
            ms(busy),
        ),
        ("**busy / cold by hand, busy** (goal <= 0.3)", f"{busy / figures['busy_cold_s']:.2f}"),
        ("the worker's max_concurrent", str(concurrent)),
        *cpu_table(probes, floor),
        ("load average before / after the run", f"{_loads(load_before)} / {_loads(load_after)}"),
        ("share of the cores other work used during the run", f"{other:.0%}"),
    ]
    sections = [
        (
            "bursts of new conversations (ms to first token, each; ratios to cold by hand;"
            " floors on this machine's cores, see the module docstring)",
            BURST_HEADER,
            _burst_rows(figures, floor),
        ),
        (
            "where each burst's time went (CPU: user+system over the burst; the floor's: every"
            " turn to its end and the starts the burst needs, see Floor.burst_work)",
            USE_HEADER,
            use_rows(figures, floor),
        ),
        (
            f"the floor per burst size if the pool held the whole burst, and if it held"
            f" {FLOOR} (ms, and / cold by hand; max_concurrent {concurrent})",
            FLOOR_HEADER,
            floor_rows(floor, cold),
        ),
    ]
    notes = [f"anomalies: {'; '.join(anomalies)}"] if anomalies else []
    name = "burst" if concurrent == 4 else f"burst_c{concurrent}"
    record = {**figures, "floor": vars(floor), "anomalies": anomalies}
    record["load_average_before_after"] = [load_before, load_after]
    record["other_work_share"] = other
    write_result(name, record, table, sections, notes)
