"""Bursts of new conversations on one cli worker: time to first token against a cold `claude -p`.

One run against the mock upstream on 127.0.0.1 with the pinned CLI, one stack with the default
settings and one cli worker:

1. Cold `claude -p` started by hand (spawn, user line, first text delta): the yardstick, median
   of COLD_SAMPLES, taken with the stack quiet.
2. For each burst size N in BURSTS: N new conversations (each its own X-Session-Id and opening)
   sent at once, twice: the first burst of that size (reported as it is) and, after the stack
   settles, the same size again, once the pool has seen such a burst. Per burst: every
   request's time to its first streamed content chunk; p50 and p95 over the burst.
3. Busy machine (measured first, with the pool at its floor, so no burst's demand is in it): a
   CPU load generator on every core, cold by hand measured under it, then BUSY_SEQUENCE new
   conversations 0.5 s apart; their median against that cold.

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

from bench.report import write_result
from bench.sessions import _direct_ttft, _settle, _turn
from tests.mock_upstream import MockUpstream
from tests.stack import Stack, claude_bin

BURSTS = (1, 2, 4, 8, 16)
COLD_SAMPLES = 5
BUSY_SEQUENCE = 8
BUSY_GAP_S = 0.5
FLOOR = 2  # WARM_PROCESSES by default: what the quiet stack keeps ready


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


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


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


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _measure(stack: Stack, base_url: str, home: Path, anomalies: list[str]) -> dict[str, Any]:
    _direct_ttft(base_url, home)  # unmeasured: page cache
    _turn(stack, [{"role": "user", "content": "warm-up"}], "warm-up")  # learns the signature
    _settle(stack, FLOOR, anomalies, "before cold")
    cold = statistics.median(_direct_ttft(base_url, home) for _ in range(COLD_SAMPLES))
    with _busy_cores():
        busy_cold = statistics.median(_direct_ttft(base_url, home) for _ in range(3))
        _settle(stack, FLOOR, anomalies, "before busy")
        busy = _sequence(stack, BUSY_SEQUENCE, BUSY_GAP_S)
    bursts: dict[str, dict[str, list[float]]] = {}
    for size in BURSTS:
        runs: dict[str, list[float]] = {}
        for label in ("first", "seen"):
            _settle(stack, FLOOR, anomalies, f"before burst {size} {label}")
            runs[label] = _burst(stack, size, f"b{size}{label}")
        bursts[str(size)] = runs
    return {"cold_s": cold, "bursts": bursts, "busy_cold_s": busy_cold, "busy_s": busy}


def main() -> None:
    anomalies: list[str] = []
    concurrent = int(os.environ.get("BENCH_MAX_CONCURRENT", "4"))
    worker = {"name": "1", "bin": claude_bin(), "token": "sk-ant-oat01-bench", "mode": "cli"}
    workers = [{**worker, "max_concurrent": concurrent}]
    unpaced = json.dumps({"sonnet": {"rpm": 100_000, "tpm": 1_000_000_000}})
    home = Path(tempfile.mkdtemp(prefix="ccp-bench-"))
    load_before = os.getloadavg()
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
    cold = figures["cold_s"]
    rows = []
    for size, runs in figures["bursts"].items():
        for label, times in runs.items():
            p50, p95 = _quantile(times, 0.5), _quantile(times, 0.95)
            rows.append(
                [
                    size,
                    label,
                    ", ".join(_ms(t) for t in times),
                    f"{p50 / cold:.2f}",
                    f"{p95 / cold:.2f}",
                ]
            )
    busy = statistics.median(figures["busy_s"])
    table = [
        ("cold `claude -p` by hand, time to first token (median)", _ms(cold)),
        ("busy machine: cold by hand (median)", _ms(figures["busy_cold_s"])),
        (
            f"busy machine: {BUSY_SEQUENCE} new conversations {BUSY_GAP_S} s apart (median)",
            _ms(busy),
        ),
        ("**busy / cold by hand, busy** (goal <= 0.3)", f"{busy / figures['busy_cold_s']:.2f}"),
        ("the worker's max_concurrent", str(concurrent)),
        ("load average before the run", " ".join(f"{x:.2f}" for x in load_before)),
    ]
    sections = [
        (
            "bursts of new conversations (ms to first token, each; ratios to cold by hand)",
            [
                "at once",
                "burst",
                "each (ms)",
                "p50 / cold (goal <= 0.2)",
                "p95 / cold (goal <= 0.5)",
            ],
            rows,
        )
    ]
    notes = [f"anomalies: {'; '.join(anomalies)}"] if anomalies else []
    name = "burst" if concurrent == 4 else f"burst_c{concurrent}"
    write_result(name, {**figures, "anomalies": anomalies}, table, sections, notes)
