"""A workerd on another host (issue 23): the latency it adds, and how fast a lost host is seen.

One run, on one machine: the worker host is a network namespace behind a veth cable
(tests/netns.py) running `make run-workers`'s launcher with one cli worker `r1`, reached over TCP
with mutual TLS; the controller host's stack (this namespace) has a local cli worker `local`
and `r1`. Both run the scriptable fake `claude`, which answers at once, so what is measured is
the proxy's path, not a model. Rig: tests/remote_rig.py `open_rig`,
with HEALTH_INTERVAL_MS and REMOTE_KEEPALIVE_MS at their defaults.

1. Added latency: conversations held by each worker (opened pinned to it, then kept there by
   affinity, so every measured turn goes to its parked process and no CLI start is in the
   figures), at concurrency 1 and 10, without and with 20 ms of delay each way on the cable
   (`netem`, made with an NFQUEUE: the kernel here has no sch_netem). In each round the
   `local` turns run, then the `r1` ones (which goes first alternates), so both see the same
   machine. Per block: time to the first content chunk and to the end of the stream, p50 and
   p99; the added figure is r1's minus local's.
2. A cut: a stream on `r1` past its first chunk (`FAKE:stall`), then the cable out. Measured
   from the cut: until the client's stream ends in an error, and until the next turn of a
   conversation that `r1` served (its affinity says r1) is answered by `local`. Then the cable
   back in, and r1 up again before the next cut.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from bench.report import write_result
from tests.remote_rig import (
    Rig,
    only,
    open_rig,
    worker_state,
)
from tests.stack import Stack, wait_until

WORKERS = ("local", "r1")
CONCURRENCY = (1, 10)
ROUNDS = {1: 40, 10: 20}  # turns per conversation: 40 and 200 samples per worker and block
# Every conversation keeps its process parked between turns (ten per worker at concurrency 10).
HEALTH_MS = 1000  # HEALTH_INTERVAL_MS and REMOTE_KEEPALIVE_MS as shipped: a cut as users see it
REMOTE_KEEPALIVE = 1000
WORKERD_SETTINGS = {
    "MAX_IDLE_PROCESSES": "14",
    "WARM_PROCESSES": "2",
    "HEALTH_INTERVAL_MS": str(HEALTH_MS),
    "REMOTE_KEEPALIVE_MS": str(REMOTE_KEEPALIVE),
}
DELAY_MS = 20
CUTS = 3
SETTLE_S = 60
T = TypeVar("T")
Samples = dict[str, dict[str, list[float]]]
"""By worker: its turns' times to the first content chunk and to the end."""


def _streamed(
    stack: Stack, messages: list[dict[str, str]], session: str = ""
) -> tuple[float, float, str, str]:
    """One streamed completion: (seconds to the first content chunk, to the end, worker, text)."""
    headers = {"X-Session-Id": session} if session else {}
    started = time.monotonic()
    raw = stack.client().chat.completions.with_raw_response.create(
        model="sonnet",
        messages=cast("list[ChatCompletionMessageParam]", messages),
        stream=True,
        extra_headers=headers,
    )
    first, text = 0.0, []
    for chunk in raw.parse():
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.monotonic() - started
            text.append(chunk.choices[0].delta.content)
    if not first:
        raise RuntimeError(f"{messages[-1]['content']!r}: no content streamed")
    return first, time.monotonic() - started, raw.headers["X-Proxy-Worker"], "".join(text)


@dataclass
class Conversation:
    """A conversation held by one worker (affinity keeps it there): its turns after the first
    go to its parked process, so no CLI start is measured."""

    worker: str
    session: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:12]}")
    messages: list[dict[str, str]] = field(default_factory=list)

    def turn(self, stack: Stack, samples: Samples, moves: list[str]) -> None:
        self.messages.append({"role": "user", "content": f"turn {len(self.messages) // 2}"})
        ttft, total, worker, text = _streamed(stack, self.messages, self.session)
        self.messages.append({"role": "assistant", "content": text})
        if worker != self.worker:
            moves.append(f"{self.session}: {self.worker} -> {worker}")
            self.worker = worker
        samples.setdefault(worker, {"ttft_s": [], "total_s": []})
        samples[worker]["ttft_s"].append(ttft)
        samples[worker]["total_s"].append(total)


def _open(stack: Stack, worker: str, count: int) -> list[Conversation]:
    conversations = [Conversation(worker) for _ in range(count)]
    with only(stack, worker):
        for conversation in conversations:
            conversation.turn(stack, {}, [])  # the opening: a warm or cold start, unmeasured
    return conversations


def _rounds(stack: Stack, concurrency: int, moves: list[str]) -> Samples:
    """ROUNDS[concurrency] rounds; in each, `concurrency` turns at once on one worker, then on
    the other (which goes first alternates), so both see the same machine."""
    held = {worker: _open(stack, worker, concurrency) for worker in WORKERS}
    samples: Samples = {}
    with ThreadPoolExecutor(concurrency) as pool:
        for n in range(ROUNDS[concurrency]):
            for worker in WORKERS[:: 1 if n % 2 == 0 else -1]:
                turns = [pool.submit(c.turn, stack, samples, moves) for c in held[worker]]
                for done in turns:
                    done.result()
    return samples


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _latency(rig: Rig, moves: list[str]) -> dict[str, Any]:
    """Every block's samples: by delay, then concurrency, then worker."""
    net = rig.hosts["big"].net
    figures: dict[str, Any] = {}
    for delay in (0, DELAY_MS):
        if delay:
            net.netem(delay_ms=delay)
        try:
            figures[f"delay_{delay}ms"] = {
                f"c{concurrency}": _rounds(rig.stack, concurrency, moves)
                for concurrency in CONCURRENCY
            }
        finally:
            net.netem_off()
    return figures


def _await_error(chunks: Any) -> None:
    try:
        for _ in chunks:
            pass
    except openai.APIError:
        return
    raise RuntimeError("the cut stream ended without an error")


def _cut_once(rig: Rig, round_: int) -> dict[str, Any]:
    """One cut, measured from the moment the cable goes out: the stream's error and the next
    turn of r1's conversation, sent at the cut, both waited for side by side."""
    stack, net = rig.stack, rig.hosts["big"].net
    session = f"cut-{round_}-{uuid.uuid4().hex[:8]}"
    with only(stack, "r1"):
        opening = [{"role": "user", "content": f"opening {session}"}]
        _streamed(stack, opening, session)  # the conversation's affinity: r1
        stream = stack.client().chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "FAKE:stall:60 cut"}], stream=True
        )
    with stream, ThreadPoolExecutor(2) as pool:
        chunks = iter(stream)
        next(c for c in chunks if c.choices and c.choices[0].delta.content)
        cut = time.monotonic()
        net.link_down()
        try:
            error = pool.submit(_since, cut, lambda: _await_error(chunks))
            next_turn = [*opening, {"role": "assistant", "content": "ok"}, opening[0]]
            moved = pool.submit(_since, cut, lambda: _streamed(stack, next_turn, session))
            error_s, (moved_s, (_, _, moved_to, _)) = error.result()[0], moved.result()
            wait_until(lambda: worker_state(stack, "r1") == "down", SETTLE_S, "r1 down")
        finally:
            net.link_up()
    back = time.monotonic()
    wait_until(lambda: worker_state(stack, "r1") == "up", SETTLE_S, "r1 up again")
    return {
        "error_s": error_s,
        "moved_s": moved_s,
        "moved_to": moved_to,
        "up_again_s": time.monotonic() - back,
    }


def _since(start: float, action: Callable[[], T]) -> tuple[float, T]:
    """`action`'s result and the seconds from `start` to its end."""
    result = action()
    return time.monotonic() - start, result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _latency_rows(figures: dict[str, Any]) -> list[list[str]]:
    rows = []
    for delay, by_concurrency in figures.items():
        for concurrency, by_worker in by_concurrency.items():
            for measure in ("ttft_s", "total_s"):
                local, remote = by_worker["local"][measure], by_worker["r1"][measure]
                cells = [delay.removeprefix("delay_"), concurrency.removeprefix("c"), measure[:-2]]
                for q in (0.5, 0.99):
                    mine, theirs = _quantile(local, q), _quantile(remote, q)
                    cells += [_ms(mine), _ms(theirs), _ms(theirs - mine)]
                rows.append(cells)
    return rows


def _cut_rows(cuts: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [str(n), _ms(c["error_s"]), _ms(c["moved_s"]), c["moved_to"], _ms(c["up_again_s"])]
        for n, c in enumerate(cuts, 1)
    ]


def main() -> None:
    load_before = os.getloadavg()
    moves: list[str] = []
    with ExitStack() as cleanup:
        rig = open_rig(
            cleanup,
            small_host=False,
            max_concurrent=max(CONCURRENCY),
            workerd_settings=WORKERD_SETTINGS,
        )
        latency = _latency(rig, moves)
        cuts = [_cut_once(rig, n) for n in range(CUTS)]
    figures = {"latency": latency, "cuts": cuts, "moves": moves, "load_before": load_before}
    error_p50 = statistics.median(c["error_s"] for c in cuts)
    moved_p50 = statistics.median(c["moved_s"] for c in cuts)
    table = [
        (f"cut to the client's error (median of {CUTS})", f"{_ms(error_p50)} ms"),
        (f"cut to the next turn answered elsewhere (median of {CUTS})", f"{_ms(moved_p50)} ms"),
        (
            "health interval / remote keepalive (the defaults)",
            f"{HEALTH_MS} / {REMOTE_KEEPALIVE} ms",
        ),
        ("samples per worker and block (concurrency 1 / 10)", f"{ROUNDS[1]} / {10 * ROUNDS[10]}"),
        ("conversations that moved worker while measured", str(len(moves))),
        ("load average before the run", " ".join(f"{x:.2f}" for x in load_before)),
    ]
    header = ["delay each way", "concurrency", "time to", "local p50", "r1 p50", "added p50"]
    header += ["local p99", "r1 p99", "added p99"]
    sections = [
        (
            "latency, ms: a remote workerd against a local one, side by side",
            header,
            _latency_rows(latency),
        ),
        (
            "cuts, ms from the cable going out",
            ["cut", "client's error", "next turn answered", "by", "r1 up again after mending"],
            _cut_rows(cuts),
        ),
    ]
    notes = [
        "Both workers run the fake `claude`, which answers at once: the figures are the proxy's "
        "path. The delay is made in the cable by an NFQUEUE verdict process (tests/netns.py), "
        "so a round trip grows by twice the delay."
    ]
    write_result("remote", figures, table, sections, notes)
