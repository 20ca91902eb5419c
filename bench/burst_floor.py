"""The floor of bench/burst.py: what a burst of new conversations costs in CPU, measured per
request with the machine otherwise quiet, and the earliest each of its first tokens can come on
this machine's cores (the model is in bench/burst.py's docstring, "The floor")."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.procs import Elsewhere, stack_roles
from bench.sessions import MODEL, _processes, _session_events, _settle
from tests.stack import Stack

BURSTS = (1, 2, 4, 8, 16)
FLOOR = 2  # WARM_PROCESSES by default: what the quiet stack keeps ready


@dataclass(frozen=True)
class Floor:
    """What each request costs in CPU (seconds), and the cores and turns at once to share it."""

    warm: float  # proxy + CLI, request to first token, on a ready process
    start: float  # a CLI start, spawn to ready
    rest: float  # proxy + CLI, first token to the end of the stream
    alone_warm: float  # time to first token of one request alone, on a ready process
    alone_cold: float  # cold `claude -p` by hand, the fastest
    cores: int
    concurrent: int

    def kth(self, k: int, ready: int) -> float:
        """The k-th first token of a burst that found `ready` ready processes, at the soonest."""
        warm = min(k, ready)
        work = warm * self.warm + (k - warm) * (self.warm + self.start)
        work += max(0, k - self.concurrent) * self.rest
        alone = self.alone_warm if k <= ready else self.alone_cold
        return max(alone, work / self.cores)

    def burst_work(self, size: int, ready: int) -> float:
        """The CPU a whole burst cannot do without: every turn to its end, the starts."""
        return size * (self.warm + self.rest) + max(0, size - ready) * self.start


def rank(size: int, q: float) -> int:
    """Which first token (from 1) `quantile(.., q)` of a burst of `size` is."""
    return min(int(q * size), size - 1) + 1


def quantile(values: list[float], q: float) -> float:
    return sorted(values)[rank(len(values), q) - 1]


def own_cpu(proc: psutil.Process) -> float:
    """User plus system CPU seconds of this process alone (not its children)."""
    try:
        times = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


@dataclass
class CpuMark:
    """CPU seconds used so far: the proxy's processes, this process, each CLI child."""

    roles: dict[str, float]  # frontdoor, controller, workerd: their own CPU
    bench: float
    cli: dict[int, float]

    @property
    def proxy(self) -> float:
        return sum(self.roles.values())


@dataclass
class Probe:
    """One new conversation alone on a ready process: its time to first token and its CPU."""

    ttft_s: float
    cli_first_s: float
    cli_rest_s: float
    proxy_first_s: float
    proxy_rest_s: float
    bench_first_s: float
    starts_s: list[float] = field(default_factory=list)  # the replacements', spawn to ready


class CpuWatch:
    """The stack's processes by role (bench/procs.py) and the workerd's CLI children."""

    def __init__(self, stack: Stack) -> None:
        assert stack.process is not None
        self.roles = stack_roles(stack.process.pid)
        self._me = psutil.Process()

    def children(self) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for workerd in self.roles["workerd"]:
            with contextlib.suppress(psutil.NoSuchProcess):
                found += workerd.children(recursive=True)
        return found

    def mark(self, children: list[psutil.Process] | None = None) -> CpuMark:
        """CPU so far; of `children` if given (no scan of the process table: quick)."""
        roles = {role: sum(own_cpu(p) for p in procs) for role, procs in self.roles.items()}
        known = self.children() if children is None else children
        return CpuMark(roles, own_cpu(self._me), {c.pid: own_cpu(c) for c in known})


def streamed(stack: Stack, session_id: str, on_first: Callable[[], None]) -> tuple[float, str]:
    """One new conversation streamed to its end; `on_first` runs at its first content chunk."""
    client = stack.client()  # made before the clock starts, as sessions._turn does
    started, first, request_id = time.monotonic(), 0.0, ""
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"probe {session_id}"}],
        stream=True,
        extra_headers={"X-Session-Id": session_id},
    )
    for chunk in stream:
        request_id = chunk.id.removeprefix("chatcmpl-")
        if not first and chunk.choices and chunk.choices[0].delta.content:
            first = time.monotonic() - started
            on_first()
    if not first:
        raise RuntimeError(f"probe {request_id} streamed no content")
    return first, request_id


def probe(stack: Stack, watch: CpuWatch, anomalies: list[str]) -> Probe | None:
    """One request's CPU, by who spent it; None (an anomaly) unless a ready process served it."""
    _settle(stack, FLOOR, anomalies, "before a probe")
    ready_ones = watch.children()  # the one that serves is among them
    before = watch.mark(ready_ones)
    at_first: list[CpuMark] = []  # marked as the first token arrives, while the CLI goes on
    ttft, request_id = streamed(
        stack, f"probe-{uuid.uuid4().hex[:8]}", lambda: at_first.append(watch.mark(ready_ones))
    )
    end = watch.mark(ready_ones)
    info = _session_events(stack).get(request_id, {})
    pid = int(info.get("pid", 0))
    if info.get("served") != "warm" or pid not in before.cli:
        anomalies.append(f"probe {request_id}: served {info.get('served')}, not by a ready one")
        return None
    _settle(stack, FLOOR, anomalies, "after a probe")  # the replacement is ready
    ready = {p["pid"] for p in _processes(stack) if p["state"] == "ready"}
    starts = [own_cpu(c) for c in watch.children() if c.pid in ready - set(before.cli)]
    first = at_first[0]
    return Probe(
        ttft_s=ttft,
        cli_first_s=first.cli[pid] - before.cli[pid],
        cli_rest_s=end.cli[pid] - first.cli[pid],
        proxy_first_s=first.proxy - before.proxy,
        proxy_rest_s=end.proxy - first.proxy,
        bench_first_s=first.bench - before.bench,
        starts_s=starts,
    )


def floor_from(probes: list[Probe], cold_s: float, concurrent: int) -> Floor:
    """The probes' means as the floor's per-request CPU (a mean, not a median: psutil reads
    CPU in 10 ms ticks, so one probe's few ms of proxy CPU reads 0 or 10; the mean of the
    readings is right on average)."""
    mean = statistics.fmean
    if not probes or not any(p.starts_s for p in probes):
        raise RuntimeError("no probe was served by a ready process and replaced: no floor")
    return Floor(
        warm=mean(p.cli_first_s + p.proxy_first_s for p in probes),
        start=mean(s for p in probes for s in p.starts_s),
        rest=mean(p.cli_rest_s + p.proxy_rest_s for p in probes),
        alone_warm=min(p.ttft_s for p in probes),  # the fastest: a floor, not a typical time
        alone_cold=cold_s,
        cores=os.cpu_count() or 1,
        concurrent=concurrent,
    )


def cpu_used(
    before: CpuMark, after: CpuMark, machine: Elsewhere, then: Elsewhere
) -> dict[str, Any]:
    """Where a burst's time went: its wall time (to the end of its last stream), the share of
    the cores busy (anyone's work), the CPU of the CLI processes (turns and starts; those that
    exited meanwhile are missed), of the proxy and of this process, and the CLIs born."""
    cores = psutil.cpu_count() or 1
    return {
        "wall_s": then.at - machine.at,
        "cores_busy": (then.busy - machine.busy) / ((then.at - machine.at) * cores),
        "cli_cpu_s": sum(cpu - before.cli.get(pid, 0.0) for pid, cpu in after.cli.items()),
        "proxy_cpu_s": after.proxy - before.proxy,
        "roles_cpu_s": {role: cpu - before.roles[role] for role, cpu in after.roles.items()},
        "bench_cpu_s": after.bench - before.bench,
        "started": len(set(after.cli) - set(before.cli)),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def use_rows(figures: dict[str, Any], floor: Floor) -> list[list[str]]:
    rows = []
    for size, runs in figures["bursts"].items():
        for label, run in runs.items():
            spent = run["cli_cpu_s"] + run["proxy_cpu_s"]
            needed = floor.burst_work(int(size), run["ready"])
            rows.append(
                [
                    size,
                    label,
                    ms(run["wall_s"]),
                    f"{run['cores_busy']:.0%}",
                    f"{run['cli_cpu_s']:.2f}",
                    " / ".join(f"{cpu:.2f}" for cpu in run["roles_cpu_s"].values()),
                    f"{run['bench_cpu_s']:.2f}",
                    f"{needed:.2f}",
                    f"{spent / needed:.1f}",
                ]
            )
    return rows


def floor_rows(floor: Floor, cold: float) -> list[list[str]]:
    """Per burst size: the floor if the pool held the whole burst, and if it held FLOOR."""
    rows = []
    for size in BURSTS:
        p50 = rank(size, 0.5)
        held, floor_only = floor.kth(p50, size), floor.kth(p50, FLOOR)
        last_held, last_floor_only = floor.kth(size, size), floor.kth(size, FLOOR)
        rows.append(
            [
                str(size),
                f"{ms(held)} ({held / cold:.2f})",
                f"{ms(last_held)} ({last_held / cold:.2f})",
                f"{ms(floor_only)} ({floor_only / cold:.2f})",
                f"{ms(last_floor_only)} ({last_floor_only / cold:.2f})",
            ]
        )
    return rows


def cpu_table(probes: list[Probe], floor: Floor) -> list[tuple[str, str]]:
    def mean_ms(values: list[float]) -> str:
        return ms(statistics.fmean(values))

    proxy = [p.proxy_first_s + p.proxy_rest_s for p in probes]
    return [
        ("probes (one new conversation alone, on a ready process; CPU: means)", str(len(probes))),
        (
            "  time to first token (fastest / median)",
            f"{ms(floor.alone_warm)} / {ms(statistics.median(p.ttft_s for p in probes))} ms",
        ),
        (
            "  CLI turn CPU, request to first token",
            f"{mean_ms([p.cli_first_s for p in probes])} ms",
        ),
        (
            "  proxy CPU (frontdoor+controller+workerd), to first token / whole request",
            f"{mean_ms([p.proxy_first_s for p in probes])} / {mean_ms(proxy)} ms",
        ),
        ("  CLI + proxy CPU, first token to end of stream", f"{ms(floor.rest)} ms"),
        (
            "  this process (client, mock upstream), to first token",
            f"{mean_ms([p.bench_first_s for p in probes])} ms",
        ),
        ("CPU of a CLI start, spawn to ready (the pool's replacements)", f"{ms(floor.start)} ms"),
        (
            "**CPU per request to its first token: on a ready process / with a start**",
            f"{ms(floor.warm)} / {ms(floor.warm + floor.start)} ms",
        ),
        ("cores", str(floor.cores)),
    ]


USE_HEADER = [
    "at once",
    "burst",
    "wall, to the last stream's end (ms)",
    "cores busy (anyone's work)",
    "CLI CPU (s)",
    "proxy CPU: frontdoor / controller / workerd (s)",
    "this process CPU (s)",
    "the floor's CPU for the burst (s)",
    "CLI + proxy / floor's CPU",
]


FLOOR_HEADER = [
    "at once",
    "p50 floor, all ready (ms, / cold)",
    "last floor, all ready",
    f"p50 floor, {FLOOR} ready",
    f"last floor, {FLOOR} ready",
]
