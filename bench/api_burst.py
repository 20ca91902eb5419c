"""100 slow streams at once on the api path: how much later each reaches the upstream.

One stack with one `api` worker (max_concurrent 128, bench/sides.py) in front of the bench's mock
(bench/mock_server.py, which records when every slow request arrives). Rounds alternate between
the mock directly and this proxy, so both see the machine in the same state; each round sends
BURST slow streamed requests at once from one client and reads the mock's arrival times.

Added time: the k-th arrival through the proxy minus the k-th arrival directly, both counted from
the moment the client sent the burst (the mock does not know which request is which, so requests
are matched by their order of arrival). Its p50 and p95 over the burst, and the first FIRST
arrivals (order inside a burst: are the first requests held back by the admission of the rest?),
each the median over the rounds.

Also the proxy's CPU per request while it passes the burst on (from the send to the last
arrival, sampled every SAMPLE_S by a thread): with every process busy, the k-th arrival can be
no earlier than k times that CPU over the machine's cores, whatever the order.

Goal (issue 22): the p50 added time at most 30 ms.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

from bench import load
from bench.procs import Watched
from bench.report import write_result
from bench.sides import Side, mock_base, start_mock, start_proxy

BURST = 100
FIRST = 10
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
GOAL_P50_MS = 30.0
SLOW_TEXT = "BENCH_SLOW please"
SAMPLE_S = 0.005
CORES = os.cpu_count() or 1


class CpuSamples:
    """Each role's CPU seconds so far, every SAMPLE_S, with the time.monotonic() of each."""

    def __init__(self, watched: Watched) -> None:
        self.watched = watched
        self.taken: list[tuple[float, dict[str, float]]] = []

    @contextmanager
    def running(self) -> Iterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=self._sample, args=(stop,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _sample(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.taken.append((time.monotonic(), self.watched.cpu_s()))
            stop.wait(SAMPLE_S)

    def used_ms(self, start: float, end: float, requests: int) -> dict[str, float]:
        """CPU per request (ms) by role between the samples around `start` and `end`."""
        before = [cpu for at, cpu in self.taken if at <= start][-1]
        after = next(cpu for at, cpu in self.taken if at >= end)
        return {role: (after[role] - before[role]) * 1000 / requests for role in after}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def _arrivals(
    side: Side, arrivals_url: str, session: aiohttp.ClientSession, cpu: dict[str, float]
) -> list[float]:
    """One burst on `side`: when each request reached the mock, in ms from the burst's send;
    `cpu` gets the side's CPU per request (ms) from the send to the last arrival."""
    await (await session.get(arrivals_url)).read()  # forget earlier ones
    samples = CpuSamples(side.watched)
    with samples.running():
        run = await load.burst(side.target, True, BURST, SLOW_TEXT)
    arrived = await (await session.get(arrivals_url)).json()
    if run.errors or len(arrived) < BURST:
        raise RuntimeError(f"{side.name}: {run.errors} errors, {len(arrived)} arrivals")
    arrived = arrived[-BURST:]
    cpu.update(samples.used_ms(run.started_monotonic, max(arrived), BURST))
    return sorted((at - run.started_monotonic) * 1000 for at in arrived)


async def _rounds(mock: Side, proxy: Side) -> list[dict[str, Any]]:
    rounds = []
    async with aiohttp.ClientSession() as session:
        url = mock_base(mock) + "/arrivals"
        await _arrivals(proxy, url, session, {})  # warm-up: first-use costs are not a burst's
        for n in range(ROUNDS):
            direct = await _arrivals(mock, url, session, {})
            cpu: dict[str, float] = {}
            proxied = await _arrivals(proxy, url, session, cpu)
            added = [p - d for p, d in zip(proxied, direct, strict=True)]
            per_request = sum(cpu.values())
            figures = {
                "direct_p50_ms": _quantile(direct, 0.5),
                "proxy_p50_ms": _quantile(proxied, 0.5),
                "added_p50_ms": _quantile(added, 0.5),
                "added_p95_ms": _quantile(added, 0.95),
                "added_first_ms": added[:FIRST],
                "proxy_first_ms": proxied[:FIRST],
                "proxy_last_ms": proxied[-1],
                "direct_last_ms": direct[-1],
                "cpu_ms_per_request": cpu,
                "cpu_ms_per_request_total": per_request,
                # the median arrival if the proxy's CPU alone set the pace, on every core
                "cpu_bound_p50_ms": per_request * BURST / 2 / CORES,
            }
            print(f"round {n}: {_brief(figures)}", flush=True)
            rounds.append(figures)
    return rounds


def _brief(figures: dict[str, Any]) -> str:
    first = ", ".join(f"{v:.0f}" for v in figures["added_first_ms"])
    return (
        f"added p50 {figures['added_p50_ms']:.1f} ms, p95 {figures['added_p95_ms']:.1f} ms, "
        f"first [{first}]"
    )


def _median(rounds: list[dict[str, Any]], name: str) -> float:
    return float(statistics.median(r[name] for r in rounds))


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    names = [n for n, v in rounds[0].items() if isinstance(v, float)]
    summary: dict[str, Any] = {name: _median(rounds, name) for name in names}
    for name in ("added_first_ms", "proxy_first_ms"):
        summary[name] = [statistics.median(r[name][k] for r in rounds) for k in range(FIRST)]
    roles = rounds[0]["cpu_ms_per_request"]
    summary["cpu_ms_per_request"] = {
        role: statistics.median(r["cpu_ms_per_request"][role] for r in rounds) for role in roles
    }
    return summary


def main() -> None:
    sides: list[Side] = []
    try:
        mock = start_mock()
        sides.append(mock)
        proxy = start_proxy(mock)
        sides.append(proxy)
        rounds = asyncio.run(_rounds(mock, proxy))
    finally:
        for side in reversed(sides):
            side.stop()
    summary = _summary(rounds)
    figures = {"burst": BURST, "rounds": rounds, "median": summary, "goal_p50_ms": GOAL_P50_MS}
    table = [
        ("slow streams at once", str(BURST)),
        ("rounds (medians below)", str(len(rounds))),
        ("reached the mock, p50: directly / through the proxy (ms)", _pair(summary)),
        ("added time p50 (ms)", f"{summary['added_p50_ms']:.1f} (goal <= {GOAL_P50_MS:.0f})"),
        ("added time p95 (ms)", f"{summary['added_p95_ms']:.1f}"),
        ("last to arrive: directly / through the proxy (ms)", _last(summary)),
        ("proxy CPU per request until the last arrival (ms)", _cpu(summary)),
        (
            f"median arrival if that CPU alone set the pace on {CORES} cores (ms)",
            f"{summary['cpu_bound_p50_ms']:.1f}",
        ),
    ]
    rows = [
        [str(k + 1), f"{summary['proxy_first_ms'][k]:.1f}", f"{summary['added_first_ms'][k]:.1f}"]
        for k in range(FIRST)
    ]
    sections = [
        (
            f"The first {FIRST} arrivals through the proxy",
            ["arrival", "after the send (ms)", "added (ms)"],
            rows,
        )
    ]
    notes = [
        "Requests are matched by order of arrival: the k-th through the proxy against the "
        "k-th directly, in the same round."
    ]
    write_result("api_burst", figures, table, sections, notes)


def _pair(summary: dict[str, Any]) -> str:
    return f"{summary['direct_p50_ms']:.1f} / {summary['proxy_p50_ms']:.1f}"


def _cpu(summary: dict[str, Any]) -> str:
    roles = summary["cpu_ms_per_request"]
    parts = ", ".join(f"{role} {ms:.2f}" for role, ms in roles.items())
    return f"{summary['cpu_ms_per_request_total']:.2f} ({parts})"


def _last(summary: dict[str, Any]) -> str:
    return f"{summary['direct_last_ms']:.1f} / {summary['proxy_last_ms']:.1f}"


if __name__ == "__main__":
    main()
