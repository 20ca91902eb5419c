"""CLI sessions: what a warm process and a live conversation save over a cold `claude -p`.

One run against the mock upstream on 127.0.0.1 with the pinned CLI, two stacks side by side:
`pooled` (default settings: WARM_PROCESSES=2, MAX_IDLE_PROCESSES=4) and `spawning`
(MAX_IDLE_PROCESSES=0: one new process per request, the behaviour before the session engine).

1. Time to first token (the first streamed content chunk, official `openai` client) of
   (a) a cold `claude -p` started by hand with the proxy's flags and child environment (spawn,
   write the user line, first text `stream_event`), (b) a conversation's first turn through the
   proxy served by a warm process, (c) a later turn of a live conversation, (d) a first turn
   through the `spawning` stack (cold through the proxy). The four are sampled in interleaved
   rounds, each after both stacks have gone quiet (no process starting, running or stopping).
2. A 10-turn conversation played three ways with the same messages, turn by turn in lockstep
   (REPEATS times): `live` (pooled, one X-Session-Id: turn 1 warm, turns 2-10 written into the
   parked process); `rebuilt_warm` (pooled, a new X-Session-Id every turn, so no process holds
   the conversation and each turn is a full rebuild into a warm process: the cleanest forced
   rebuild, same signature and messages, no timer to wait on); `rebuilt_cold` (spawning: a
   full rebuild in a new process each turn). Per turn: the bytes written to the CLI
   (SessionInfo.bytes_written, from the `session` events), the wall time from request to the
   end of the stream, and the upstream request, which must be the same (the whole history)
   whichever way the turn was served.
3. RSS (and USS, the memory only that process holds) of the warm and the parked processes.

How every measured turn was served is checked against the `session` events; a turn not served
as planned is listed under `anomalies` and left out of the medians.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil
from openai.types.chat import ChatCompletionMessageParam

from bench.overhead import direct_cli, start_by_hand
from bench.report import write_result
from tests.mock_upstream import MockUpstream
from tests.stack import Stack, claude_bin

ROUNDS = 9  # samples of each first-token figure
TURNS = 10  # turns of the conversation of part 2
REPEATS = 3  # times part 2 is played; per turn, the median wall time
MODEL = "sonnet"
SETTLE_TIMEOUT_S = 30.0
QUIET_PAUSE_S = 0.2  # after the process table settles, for the last process to go idle
TURN_TIMEOUT_S = 60.0
WARM_TARGET = 2  # the default WARM_PROCESSES the pooled stack keeps ready
BUSY_STATES = frozenset({"starting", "running", "stopping"})


@dataclass
class Turn:
    """One request through the proxy, as the client saw it."""

    request_id: str
    ttft_s: float
    wall_s: float
    text: str


@dataclass
class Sample:
    turn: Turn
    expected: str  # live, warm or cold
    served: str = ""
    rebuild_reason: str = ""
    bytes_written: int = 0
    pid: int = 0
    upstream_bytes: int = 0
    upstream_digest: str = ""  # of the upstream request but its per-process metadata

    @property
    def as_expected(self) -> bool:
        return self.served == self.expected

    def record(self) -> dict[str, Any]:
        return {
            "request_id": self.turn.request_id,
            "expected": self.expected,
            "served": self.served,
            "rebuild_reason": self.rebuild_reason,
            "pid": self.pid,
            "bytes_written": self.bytes_written,
            "upstream_bytes": self.upstream_bytes,
            "upstream_digest": self.upstream_digest,
            "ttft_s": self.turn.ttft_s,
            "wall_s": self.turn.wall_s,
        }


# --- (a) a cold `claude -p` started by hand ------------------------------------------------


def _direct_ttft(base_url: str, home: Path) -> float:
    """Spawn, write the user line, first text delta; then let the run end and the CLI exit."""
    cli = direct_cli(base_url, home)
    started = time.monotonic()
    proc = start_by_hand(cli, home)
    watchdog = threading.Timer(TURN_TIMEOUT_S, proc.kill)
    watchdog.start()
    first = 0.0
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(cli.final_line.encode() + b"\n")
        proc.stdin.flush()
        for raw in proc.stdout:
            line = json.loads(raw)
            if not first and _is_text_delta(line):
                first = time.monotonic() - started
            if line.get("type") == "result":
                break
        proc.stdin.close()
        proc.wait(TURN_TIMEOUT_S)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not first:
        raise RuntimeError("the directly started CLI streamed no text")
    return first


def _is_text_delta(line: dict[str, Any]) -> bool:
    event = line.get("event") or {}
    delta = event.get("delta") or {}
    return bool(
        line.get("type") == "stream_event"
        and event.get("type") == "content_block_delta"
        and delta.get("type") == "text_delta"
        and delta.get("text")
    )


# --- through the proxy ---------------------------------------------------------------------


def _turn(stack: Stack, messages: list[dict[str, str]], session_id: str) -> Turn:
    """One streamed completion: time to the first content chunk and to the end of the stream."""
    client = stack.client()
    started = time.monotonic()
    first = 0.0
    text: list[str] = []
    request_id = ""
    stream = client.chat.completions.create(
        model=MODEL,
        messages=cast("list[ChatCompletionMessageParam]", messages),
        stream=True,
        extra_headers={"X-Session-Id": session_id},
    )
    for chunk in stream:
        request_id = chunk.id.removeprefix("chatcmpl-")
        if chunk.choices and chunk.choices[0].delta.content:
            if not first:
                first = time.monotonic() - started
            text.append(chunk.choices[0].delta.content)
    wall = time.monotonic() - started
    if not first:
        raise RuntimeError(f"request {request_id} streamed no content")
    return Turn(request_id, first, wall, "".join(text))


def _processes(stack: Stack) -> list[dict[str, Any]]:
    status, body = stack.get("/zombies")
    if status != 200:
        raise RuntimeError(f"GET /zombies answered {status}")
    processes: list[dict[str, Any]] = body["processes"]
    return processes


def _settle(stack: Stack, ready: int, anomalies: list[str], what: str) -> None:
    """Wait until no process starts, runs or stops and `ready` warm processes wait."""

    def quiet() -> bool:
        states = [p["state"] for p in _processes(stack)]
        return not BUSY_STATES & set(states) and states.count("ready") >= ready

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while not quiet():
        if time.monotonic() > deadline:
            anomalies.append(f"{what}: process table not quiet after {SETTLE_TIMEOUT_S:.0f} s")
            return
        time.sleep(0.05)


def _session_events(stack: Stack) -> dict[str, dict[str, Any]]:
    status, body = stack.get("/events?type=session&limit=1000")
    if status != 200:
        raise RuntimeError(f"GET /events answered {status}")
    return {e["data"]["request_id"]: e["data"] for e in body["events"]}


def _resolve(stack: Stack, samples: list[Sample], anomalies: list[str], what: str) -> None:
    """Fill in how each turn was served, from the controller's `session` events."""
    events = _session_events(stack)
    for n, sample in enumerate(samples, 1):
        info = events.get(sample.turn.request_id)
        if info is None:
            anomalies.append(f"{what} #{n}: no session event for {sample.turn.request_id}")
            continue
        sample.served = str(info["served"])
        sample.rebuild_reason = str(info["rebuild_reason"])
        sample.bytes_written = int(info["bytes_written"])
        sample.pid = int(info["pid"])
        if not sample.as_expected:
            anomalies.append(
                f"{what} #{n}: served {sample.served} (reason {sample.rebuild_reason or '-'}),"
                f" expected {sample.expected}"
            )


def _digest(body: Any) -> str:
    """The upstream request minus `metadata` (it names the CLI process's own session)."""
    kept = {k: v for k, v in body.items() if k != "metadata"} if isinstance(body, dict) else body
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def _user(n: int) -> dict[str, str]:
    """A user turn of about 300 characters, different every turn."""
    words = " ".join(f"w{n}x{k}" for k in range(40))
    return {"role": "user", "content": f"turn {n}: {words}"}


# --- the parts -----------------------------------------------------------------------------


@dataclass
class Stacks:
    pooled: Stack
    spawning: Stack
    upstream: MockUpstream
    anomalies: list[str]

    def quiet(self, what: str) -> None:
        _settle(self.pooled, WARM_TARGET, self.anomalies, what)
        _settle(self.spawning, 0, self.anomalies, what)
        time.sleep(QUIET_PAUSE_S)


@dataclass
class FirstTokens:
    direct: list[float]  # seconds, cold `claude -p` by hand
    warm: list[Sample]
    live: list[Sample]
    cold: list[Sample]  # through the spawning stack


def _first_tokens(stacks: Stacks, home: Path) -> FirstTokens:
    """Part 1: cold by hand, warm first turn, live later turn, cold through the proxy."""
    pooled, spawning = stacks.pooled, stacks.spawning
    base_url = stacks.upstream.base_url
    # Once each, unmeasured: page cache, connections, and the pooled worker learns the
    # signature (its warm processes start after this request).
    _direct_ttft(base_url, home)
    _turn(spawning, [_user(0)], "warmup-spawning")
    _turn(pooled, [_user(0)], "warmup-pooled")
    live_id = f"live-{uuid.uuid4().hex[:8]}"
    stacks.quiet("before the live conversation")
    opening = [{"role": "user", "content": "a conversation that goes on"}]
    first = _turn(pooled, opening, live_id)
    history = [*opening, {"role": "assistant", "content": first.text}]
    direct: list[float] = []
    warm: list[Sample] = []
    live: list[Sample] = []
    cold: list[Sample] = []
    for n in range(1, ROUNDS + 1):
        stacks.quiet(f"round {n}")
        direct.append(_direct_ttft(base_url, home))
        stacks.quiet(f"round {n}")
        # Warm before live: the conversation parked last is the one kept (LRU eviction).
        new = [{"role": "user", "content": f"first turn of conversation {n}"}]
        warm.append(Sample(_turn(pooled, new, f"warm-{n}-{uuid.uuid4().hex[:8]}"), "warm"))
        stacks.quiet(f"round {n}")
        history.append({"role": "user", "content": f"turn {n + 1} of the conversation"})
        turn = _turn(pooled, history, live_id)
        history.append({"role": "assistant", "content": turn.text})
        live.append(Sample(turn, "live"))
        stacks.quiet(f"round {n}")
        new = [{"role": "user", "content": f"cold first turn {n}"}]
        cold.append(Sample(_turn(spawning, new, f"cold-{n}-{uuid.uuid4().hex[:8]}"), "cold"))
    _resolve(pooled, warm, stacks.anomalies, "warm first turn")
    _resolve(pooled, live, stacks.anomalies, "live later turn")
    _resolve(spawning, cold, stacks.anomalies, "cold first turn through the proxy")
    return FirstTokens(direct, warm, live, cold)


@dataclass
class Conversation:
    """One way of playing the 10-turn conversation (part 2)."""

    name: str
    stack: Stack
    expected: Callable[[int], str]  # how turn n (from 1) must be served
    session_id: Callable[[int], str]  # the X-Session-Id turn n is sent with
    messages: list[dict[str, str]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def turn(self, n: int, stacks: Stacks) -> None:
        self.messages.append(_user(n))
        stacks.quiet(f"{self.name} turn {n}")
        stacks.upstream.clear()
        turn = _turn(self.stack, self.messages, self.session_id(n))
        self.messages.append({"role": "assistant", "content": turn.text})
        sample = Sample(turn, self.expected(n))
        posts = stacks.upstream.message_requests()
        if posts:
            sample.upstream_bytes = posts[-1].size
            sample.upstream_digest = _digest(posts[-1].json)
        if len(posts) != 1:
            stacks.anomalies.append(
                f"{self.name} turn {n}: {len(posts)} upstream requests, expected 1"
            )
        self.samples.append(sample)


def _conversations(stacks: Stacks, repeat: int) -> dict[str, list[Sample]]:
    """Part 2: the three ways, turn by turn in lockstep (the same load on each turn n)."""
    tag = f"{repeat}-{uuid.uuid4().hex[:8]}"
    ways = [
        Conversation(
            "live",
            stacks.pooled,
            lambda n: "warm" if n == 1 else "live",
            lambda n: f"conv-live-{tag}",
        ),
        # A new conversation key each turn: no process holds the conversation, so each turn
        # is a full rebuild into a warm process of the same signature, with the same messages.
        Conversation(
            "rebuilt_warm", stacks.pooled, lambda n: "warm", lambda n: f"conv-rebuilt-{tag}-{n}"
        ),
        Conversation("rebuilt_cold", stacks.spawning, lambda n: "cold", lambda n: f"conv-{tag}"),
    ]
    for n in range(1, TURNS + 1):
        for way in ways:
            way.turn(n, stacks)
    for way in ways:
        label = f"{TURNS}-turn {way.name} #{repeat}"
        _resolve(way.stack, way.samples, stacks.anomalies, label)
    return {way.name: way.samples for way in ways}


def _memory(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Part 3: RSS (from /zombies) and USS (psutil) of each warm and parked process."""
    found: dict[str, list[dict[str, Any]]] = {"ready": [], "parked": []}
    for process in _processes(stack):
        if process["state"] not in found:
            continue
        try:
            uss = psutil.Process(process["pid"]).memory_full_info().uss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            uss = 0
        found[process["state"]].append(
            {"pid": process["pid"], "rss_bytes": process["rssBytes"], "uss_bytes": uss}
        )
    return found


# --- the report ----------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _mib(values: list[int]) -> str:
    return f"{_median([float(v) for v in values]) / 2**20:.0f} MiB" if values else "n/a"


def _ttft(samples: list[Sample]) -> list[float]:
    return [s.turn.ttft_s for s in samples if s.as_expected]


def _version() -> str:
    out = subprocess.run(
        [claude_bin(), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    return out.stdout.strip()


def _same_upstream(repeats: list[dict[str, list[Sample]]], n: int) -> bool:
    """Turn n reached the upstream as the same request (the whole history) every way."""
    return len({way[n].upstream_digest for repeat in repeats for way in repeat.values()}) == 1


def _per_turn(repeats: list[dict[str, list[Sample]]], anomalies: list[str]) -> dict[str, Any]:
    """Per way and turn: bytes (the same every repeat), median wall time and first token."""
    for n in range(TURNS):
        if not _same_upstream(repeats, n):
            anomalies.append(f"turn {n + 1}: the upstream requests differ between the ways")
    summary: dict[str, Any] = {}
    for name in repeats[0]:
        rows = []
        for n in range(TURNS):
            played = [repeat[name][n] for repeat in repeats]
            written = {s.bytes_written for s in played}
            if len(written) > 1:
                anomalies.append(f"{name} turn {n + 1}: bytes written differ: {sorted(written)}")
            rows.append(
                {
                    "turn": n + 1,
                    "served": sorted({s.served for s in played}),
                    "bytes_written": played[0].bytes_written,
                    "upstream_bytes": played[0].upstream_bytes,
                    "wall_s": _median([s.turn.wall_s for s in played]),
                    "ttft_s": _median([s.turn.ttft_s for s in played]),
                }
            )
        summary[name] = rows
    return summary


def main() -> None:
    anomalies: list[str] = []
    workers = [{"name": "1", "bin": claude_bin(), "token": "sk-ant-oat01-bench", "mode": "cli"}]
    home = Path(tempfile.mkdtemp(prefix="ccp-bench-"))
    started, load_before = time.monotonic(), os.getloadavg()
    with MockUpstream() as upstream:
        common = {"WORKERS": json.dumps(workers), "ANTHROPIC_BASE_URL": upstream.base_url}
        pooled = Stack(common)
        spawning = Stack({**common, "MAX_IDLE_PROCESSES": "0"})
        stacks = Stacks(pooled, spawning, upstream, anomalies)
        try:
            pooled.start()
            spawning.start()
            first_tokens = _first_tokens(stacks, home)
            repeats = [_conversations(stacks, repeat) for repeat in range(1, REPEATS + 1)]
            stacks.quiet("memory")
            memory = _memory(pooled)
        finally:
            for stack in (pooled, spawning):
                if stack.process is not None:
                    stack.stop()
            shutil.rmtree(home, ignore_errors=True)
    elapsed, load_after = time.monotonic() - started, os.getloadavg()

    direct = _median(first_tokens.direct)
    warm = _median(_ttft(first_tokens.warm))
    live = _median(_ttft(first_tokens.live))
    cold = _median(_ttft(first_tokens.cold))
    per_turn = _per_turn(repeats, anomalies)

    def total(name: str, key: str, first: int = 0) -> float:
        return sum(float(row[key]) for row in per_turn[name][first:])

    def later(name: str) -> float:  # turns 2..N: turn 1 is a first turn in every way
        return total(name, "wall_s", 1)

    table = [
        ("cold `claude -p` by hand, time to first token (median)", _ms(direct)),
        ("warm-pool first turn through the proxy, time to first token", _ms(warm)),
        ("live later turn through the proxy, time to first token", _ms(live)),
        ("cold first turn through the proxy (MAX_IDLE_PROCESSES=0)", _ms(cold)),
        ("**warm first turn / cold by hand** (goal <= 0.2)", f"{warm / direct:.2f}"),
        ("**live later turn / cold by hand** (goal <= 0.2)", f"{live / direct:.2f}"),
        ("cold first turn through the proxy / cold by hand", f"{cold / direct:.2f}"),
        (
            f"bytes written to the CLI over {TURNS} turns, live / rebuilt",
            f"{total('live', 'bytes_written'):.0f} / {total('rebuilt_warm', 'bytes_written'):.0f}"
            f" = {total('live', 'bytes_written') / total('rebuilt_warm', 'bytes_written'):.2f}",
        ),
        (
            f"bytes written at turn {TURNS}, live / rebuilt",
            f"{per_turn['live'][-1]['bytes_written']} / "
            f"{per_turn['rebuilt_warm'][-1]['bytes_written']}",
        ),
        (
            f"wall time of turns 2-{TURNS}, live / rebuilt in a warm process",
            f"{later('live') / later('rebuilt_warm'):.2f}",
        ),
        (
            f"wall time of turns 2-{TURNS}, live / rebuilt cold (MAX_IDLE_PROCESSES=0)",
            f"{later('live') / later('rebuilt_cold'):.2f}",
        ),
        (
            "upstream request of every turn the same live / rebuilt (whole history)",
            "yes" if all(_same_upstream(repeats, n) for n in range(TURNS)) else "**no**",
        ),
        ("RSS of a warm process (median)", _mib([p["rss_bytes"] for p in memory["ready"]])),
        ("RSS of a parked process (median)", _mib([p["rss_bytes"] for p in memory["parked"]])),
        ("USS of a warm process (median)", _mib([p["uss_bytes"] for p in memory["ready"]])),
        ("USS of a parked process (median)", _mib([p["uss_bytes"] for p in memory["parked"]])),
        ("samples per first-token figure / repeats of the conversation", f"{ROUNDS} / {REPEATS}"),
        ("turns not served as planned", str(len(anomalies))),
        ("load average (1 min) before / after", f"{load_before[0]:.1f} / {load_after[0]:.1f}"),
    ]
    names = ("live", "rebuilt_warm", "rebuilt_cold")
    header = [
        "turn",
        "bytes live",
        "bytes rebuilt",
        "wall live",
        "wall rebuilt (warm)",
        "wall rebuilt (cold)",
        "upstream body",
        "served (live / rebuilt warm / rebuilt cold)",
    ]
    rows = [
        [
            str(n + 1),
            str(per_turn["live"][n]["bytes_written"]),
            str(per_turn["rebuilt_warm"][n]["bytes_written"]),
            *(_ms(per_turn[name][n]["wall_s"]) for name in names),
            str(per_turn["live"][n]["upstream_bytes"]),
            " / ".join(",".join(per_turn[name][n]["served"]) for name in names),
        ]
        for n in range(TURNS)
    ]
    write_result(
        "sessions",
        {
            "cli_version": _version(),
            "rounds": ROUNDS,
            "turns": TURNS,
            "repeats": REPEATS,
            "elapsed_s": elapsed,
            "load_average_before_after": [load_before, load_after],
            "first_token": {
                "direct_cold_ttft_s": first_tokens.direct,
                "warm": [s.record() for s in first_tokens.warm],
                "live": [s.record() for s in first_tokens.live],
                "proxy_cold": [s.record() for s in first_tokens.cold],
            },
            "medians_s": {"direct_cold": direct, "warm": warm, "live": live, "proxy_cold": cold},
            "ratios": {
                "warm_over_direct_cold": warm / direct,
                "live_over_direct_cold": live / direct,
                "proxy_cold_over_direct_cold": cold / direct,
                "live_over_rebuilt_warm_wall_turns_2_on": later("live") / later("rebuilt_warm"),
                "live_over_rebuilt_cold_wall_turns_2_on": later("live") / later("rebuilt_cold"),
                "live_over_rebuilt_bytes": total("live", "bytes_written")
                / total("rebuilt_warm", "bytes_written"),
            },
            "conversation": {
                "per_turn": per_turn,
                "repeats": [
                    {name: [s.record() for s in samples] for name, samples in repeat.items()}
                    for repeat in repeats
                ],
            },
            "memory": memory,
            "anomalies": anomalies,
        },
        table,
        sections=[
            (
                f"{TURNS}-turn conversation, per turn (wall: request to end of stream, median"
                f" of {REPEATS}; rebuilt warm and cold write the same bytes)",
                header,
                rows,
            )
        ],
        notes=[
            "Two stacks side by side on the mock upstream: pooled (default settings) and"
            " spawning (MAX_IDLE_PROCESSES=0, one process per request). Live: one X-Session-Id,"
            " only the new user turn is written. Rebuilt (warm): the same messages with a new"
            " X-Session-Id each turn, so the whole history is written into a warm process."
            " Rebuilt (cold): the spawning stack, the whole history into a new process."
            " Ratios are of medians measured interleaved in this run.",
        ],
    )
