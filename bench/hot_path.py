"""The hot path side by side: the mock upstream directly, this proxy and LiteLLM, in one run.

Every side is a real process (bench/sides.py) on the same mock. Phases alternate between the
sides so they share the machine's state: non-streaming and streaming at concurrency 1, 10 and
50 (closed loop), 100 slow streams at once (time to first token), and this proxy with 1,000
requests at once (most of them queued) against its CPU per request at concurrency 10. Figures
are ratios and differences against the mock measured in the same run.

BENCH_PROFILE=1 (`make bench-profile`) records every proxy process with py-spy during the
concurrency-10 phases: flame graphs and the top functions by own time in bench/results/profiles/.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench import grpc_floor, hop_ladder, load
from bench.hot_path_report import render
from bench.procs import PeakRss, per_request_ms
from bench.profiling import Profiler
from bench.report import write_result
from bench.sides import (
    Side,
    litellm_version,
    mock_base,
    start_litellm,
    start_mock,
    start_proxy,
)

CONCURRENCY = (1, 10, 50)
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
SLOW_STREAMS = 100
QUEUED = 1000


@dataclass
class Phase:
    stream: bool
    concurrency: int

    @property
    def name(self) -> str:
        return f"{'stream' if self.stream else 'json'} c{self.concurrency}"


def _ms(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000


def _summary(run: load.Run, cpu: dict[str, float]) -> dict[str, Any]:
    latencies = [s.latency for s in run.ok]
    ttfts = [s.ttft for s in run.ok if s.ttft is not None]
    return {
        "requests": len(run.samples),
        "errors": run.errors,
        "p50_ms": _ms(latencies, 0.5),
        "p99_ms": _ms(latencies, 0.99),
        "ttft_p50_ms": _ms(ttfts, 0.5),
        "ttft_p99_ms": _ms(ttfts, 0.99),
        "rps": len(run.ok) / run.wall_s if run.wall_s else 0.0,
        "cpu_ms_per_request": cpu,
    }


async def _measure(side: Side, phase: Phase, profiler: Profiler | None) -> dict[str, Any]:
    before = side.watched.cpu_s()
    if profiler is not None:
        profiler.start(side, phase.name, SECONDS)
    run = await load.closed_loop(side.target, phase.stream, phase.concurrency, SECONDS)
    after = side.watched.cpu_s()
    if profiler is not None:
        profiler.finish()
    return _summary(run, per_request_ms(before, after, len(run.samples)))


async def _burst(side: Side, stream: bool, count: int, text: str) -> dict[str, Any]:
    before = side.watched.cpu_s()
    run = await load.burst(side.target, stream, count, text)
    after = side.watched.cpu_s()
    return _summary(run, per_request_ms(before, after, len(run.samples)))


async def _slow_burst(side: Side, mock: Side) -> dict[str, Any]:
    """100 slow streams at once, and when each of them reached the mock: the first-token time
    split into passing the burst on and bringing the first token back."""
    arrivals_url = mock_base(mock) + "/arrivals"
    async with aiohttp.ClientSession() as session:
        await (await session.get(arrivals_url)).read()  # forget the warm-up's
        before = side.watched.cpu_s()
        run = await load.burst(side.target, True, SLOW_STREAMS, "BENCH_SLOW please")
        after = side.watched.cpu_s()
        arrived = await (await session.get(arrivals_url)).json()
    summary = _summary(run, per_request_ms(before, after, len(run.samples)))
    reached = [at - run.started_monotonic for at in arrived[-SLOW_STREAMS:]]
    summary["upstream_reached_p50_ms"] = _ms(reached, 0.5)
    summary["upstream_reached_p99_ms"] = _ms(reached, 0.99)
    return summary


async def _run(sides: list[Side], profiler: Profiler | None) -> dict[str, Any]:
    idle = {side.name: side.watched.rss_mib() for side in sides}
    idle_shared = {side.name: side.watched.shared_aware_mib() for side in sides}
    peaks = {side.name: PeakRss(side.watched) for side in sides}
    phases: dict[str, dict[str, Any]] = {}
    for phase in (Phase(s, c) for s in (False, True) for c in CONCURRENCY):
        phases[phase.name] = {}
        for side in sides:
            use = profiler if phase.concurrency == 10 and side.name == "this proxy" else None
            async with peaks[side.name].sampling():
                phases[phase.name][side.name] = await _measure(side, phase, use)
            print(f"{phase.name:10} {side.name:12} {phases[phase.name][side.name]}", flush=True)
    slow = {}
    mock = next(side for side in sides if side.name == "mock direct")
    for side in sides:
        async with peaks[side.name].sampling():
            slow[side.name] = await _slow_burst(side, mock)
        print(f"slow       {side.name:12} {slow[side.name]}", flush=True)
    proxy = next(side for side in sides if side.name == "this proxy")
    queued = await _burst(proxy, False, QUEUED, "hello")
    print(f"queued     {proxy.name:12} {queued}", flush=True)
    ladder = await hop_ladder.measure(mock, proxy)
    print(f"ladder     {ladder}", flush=True)
    return {
        "idle_rss_mib": idle,
        "idle_pss_uss_mib": idle_shared,
        "peak_rss_mib": {name: peak.peak for name, peak in peaks.items()},
        "phases": phases,
        "slow_streams": slow,
        "proxy_1000_at_once": queued,
        "hop_ladder_p50_ms": ladder,
    }


def main() -> None:
    floor = [grpc_floor.measure(events) for events in (1, 6)]  # before the sides start
    sides: list[Side] = []
    profiler = Profiler() if os.environ.get("BENCH_PROFILE") else None
    try:
        mock = start_mock()
        sides.append(mock)
        sides.append(start_proxy(mock))
        litellm = start_litellm(mock)
        if litellm is not None:
            sides.append(litellm)
        figures = asyncio.run(_run(sides, profiler))
    finally:
        for side in reversed(sides):
            side.stop()
    figures["litellm_version"] = litellm_version() if len(sides) == 3 else None
    figures["seconds_per_phase"] = SECONDS
    figures["grpc_hop_floor"] = floor
    if profiler is not None:
        profiler.summarise()
    _report(figures)


def _report(figures: dict[str, Any]) -> None:
    table, sections, notes = render(figures)
    write_result("hot_path", figures, table, sections, notes)
