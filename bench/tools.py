"""Function calling: a tool round trip through an `api` worker and through a `cli` worker.

One run against the mock upstream on 127.0.0.1 with the pinned CLI, two stacks side by side: one
`api` worker, one `cli` worker (default settings: WARM_PROCESSES=2, TOOL_RESULT_TIMEOUT_MS
600000). The client is the official `openai` client, non-streaming, and every request declares
the same two tools (so every CLI request has the same signature and the warm processes fit).

A round trip is what a client running a tool sees: request 1 (the question) until its
`tool_calls` arrive, then request 2 (the same messages, the assistant message and the `tool`
results) until the final text. The time the client spends running its tool is not counted:
request 2 is sent once the cli stack is quiet again. Variants, interleaved in ROUNDS rounds (the
order rotates every round), each request sent once the cli stack has gone quiet (no process
starting, running or stopping, WARM_TARGET warm processes ready, or none when the worker gave
up warming the tool set's signature: a `warm_fallback` event, after which fresh processes are
cold spawns, which the report says):

  api          the api worker, one call (`fn_call`);
  cli_held     the cli worker, one call, one X-Session-Id for both requests: request 2 answers
               the calls the parked ("awaiting") process waits on, served `live`, same pid;
  cli_rebuilt  the cli worker, one call, request 2 with a new X-Session-Id: the whole
               conversation, real tool blocks, is written into a fresh process (served
               `warm`, not `live`); the process left awaiting is then answered, unmeasured, so that
               it parks instead of waiting out the timeout;
  cli_held_two the cli worker, two parallel calls (`fn_two`), held as cli_held.

Per request: the wall time, the mock's /v1/messages requests it caused (counted from a clear
before the request to the quiet after it), and for the cli worker how it was served (the
`session` events of GET /events). A request not served as planned, not answered as the mock
scenario says or not costing exactly one upstream request is listed under `anomalies`; a
round trip with an anomaly is left out of the medians. Request 2's upstream request is compared
between cli_held and cli_rebuilt (metadata out, tool ids numbered): the same conversation, the
same request whichever process served it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from openai import OpenAI
from openai.types.chat import ChatCompletion

from bench.report import write_result
from tests.mock_scenarios import FN_PREAMBLE, tool_answer
from tests.mock_upstream import MockUpstream
from tests.stack import Stack, claude_bin
from tests.tool_defs import WEATHER

ROUNDS = 9  # samples of each variant
MODEL = "sonnet"
SETTLE_TIMEOUT_S = 45.0  # above workerd's 30 s warm-start handshake limit
QUIET_PAUSE_S = 0.2  # after the process table settles, for the last process to go idle
WARM_TARGET = 2  # the default WARM_PROCESSES the cli stack keeps ready
BUSY_STATES = frozenset({"starting", "running", "stopping"})
VARIANTS = ("api", "cli_held", "cli_rebuilt", "cli_held_two")
RESULTS = ("18C and sunny", "12:00")  # what the client's tools answer, in call order
TIME: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
TOOLS = [WEATHER, TIME]
TOOL_ID = re.compile(r"toolu_[A-Za-z0-9_]+")


@dataclass
class Step:
    """One request of a round trip, as the client saw it and as the cli worker served it."""

    request_id: str
    wall_s: float
    finish: str
    text: str
    call_ids: list[str]
    assistant: dict[str, Any]  # the response's message, as the client sends it back
    upstream: int = 0  # /v1/messages requests the mock received for this request
    upstream_shape: str = ""  # digest of the last one, metadata out, tool ids numbered
    upstream_shape_as_blocks: str = ""  # the same with string tool_result contents as blocks
    result_forms: list[str] = field(default_factory=list)  # tool_result contents: string, blocks
    upstream_blocks: list[list[str]] = field(default_factory=list)  # per message: block types
    served: str = ""
    rebuild_reason: str = ""
    pid: int = 0
    bytes_written: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "wall_s": self.wall_s,
            "finish_reason": self.finish,
            "calls": len(self.call_ids),
            "upstream_requests": self.upstream,
            "upstream_shape": self.upstream_shape,
            "upstream_shape_as_blocks": self.upstream_shape_as_blocks,
            "tool_result_forms": self.result_forms,
            "upstream_blocks": self.upstream_blocks,
            "served": self.served,
            "rebuild_reason": self.rebuild_reason,
            "pid": self.pid,
            "bytes_written": self.bytes_written,
        }


@dataclass
class Trip:
    """One tool round trip: request 1 (calls out) and request 2 (results in, answer)."""

    variant: str
    round: int
    first: Step
    second: Step
    problems: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.first.wall_s + self.second.wall_s

    def record(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "round": self.round,
            "total_s": self.total_s,
            "request_1": self.first.record(),
            "request_2": self.second.record(),
            "problems": self.problems,
        }


@dataclass
class Bench:
    api: Stack
    cli: Stack
    upstream: MockUpstream
    anomalies: list[str] = field(default_factory=list)
    fallbacks: list[dict[str, Any]] = field(default_factory=list)  # warm_fallback events
    warming: bool = True  # the unmeasured warm-up: no warm process is waited for
    clients: dict[int, OpenAI] = field(default_factory=dict)  # one per stack, by port

    # --- the process table ----------------------------------------------------------------

    def quiet(self, what: str, pause: bool = True) -> None:
        """Wait until no cli process starts, runs or stops and WARM_TARGET warm ones wait (or
        the worker gave up warming the tool set's signature: then none will)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            status, body = self.cli.get("/zombies")
            if status != 200:
                raise RuntimeError(f"GET /zombies answered {status}")
            states = [p["state"] for p in body["processes"]]
            if self.warming:  # the warm pool is not waited for: it may be starting or failing
                if not {"running", "stopping"} & set(states):
                    break
            elif not BUSY_STATES & set(states) and (
                states.count("ready") >= WARM_TARGET or self.warm_failed()
            ):
                break
            if time.monotonic() > deadline:
                self.anomalies.append(f"{what}: cli processes not quiet after {SETTLE_TIMEOUT_S}s")
                break
            time.sleep(0.05)
        if pause:
            time.sleep(QUIET_PAUSE_S)

    def warm_failed(self) -> bool:
        """The cli worker fell back to cold spawns for a signature (a `warm_fallback` event)."""
        if not self.fallbacks:
            status, body = self.cli.get("/events?type=warm_fallback&limit=100")
            if status != 200:
                raise RuntimeError(f"GET /events answered {status}")
            self.fallbacks = [e["data"] for e in body["events"]]
        return bool(self.fallbacks)

    # --- one request ----------------------------------------------------------------------

    def step(self, stack: Stack, session: str, messages: list[dict[str, Any]], what: str) -> Step:
        """One non-streaming request, sent once the cli stack is quiet; its upstream requests
        are those the mock received from just before it until the cli stack is quiet again."""
        self.quiet(what)
        self.upstream.clear()
        client = self.clients.setdefault(stack.port, stack.client())
        started = time.monotonic()
        completion: ChatCompletion = client.chat.completions.create(
            model=MODEL,
            messages=cast(Any, messages),
            tools=cast(Any, TOOLS),
            extra_headers={"X-Session-Id": session},
        )
        wall = time.monotonic() - started
        self.quiet(what, pause=False)
        choice = completion.choices[0]
        calls = choice.message.tool_calls or []
        step = Step(
            request_id=completion.id.removeprefix("chatcmpl-"),
            wall_s=wall,
            finish=str(choice.finish_reason),
            text=choice.message.content or "",
            call_ids=[call.id for call in calls],
            assistant=choice.message.model_dump(exclude_none=True),
        )
        posts = self.upstream.message_requests()
        step.upstream = len(posts)
        if posts and isinstance(posts[-1].json, dict):
            body = posts[-1].json
            step.upstream_shape = _shape(body)
            step.upstream_shape_as_blocks = _shape(_results_as_blocks(body))
            step.result_forms = [
                "string" if isinstance(b.get("content"), str) else "blocks"
                for b in _tool_results(body)
            ]
            step.upstream_blocks = [_block_types(m) for m in body.get("messages", [])]
        return step

    # --- one round trip -------------------------------------------------------------------

    def trip(self, variant: str, n: int) -> Trip:
        two = variant == "cli_held_two"
        stack = self.api if variant == "api" else self.cli
        tag = f"{variant}-{n}-{uuid.uuid4().hex[:8]}"
        scenario = "SCN:fn_two:get_weather,get_time" if two else "SCN:fn_call:get_weather"
        question = {"role": "user", "content": scenario}  # the same every round
        first = self.step(stack, tag, [question], f"{variant} #{n} request 1")
        messages = [question, first.assistant, *_results(first.call_ids)]
        again = f"{tag}-rebuilt" if variant == "cli_rebuilt" else tag
        second = self.step(stack, again, messages, f"{variant} #{n} request 2")
        trip = Trip(variant, n, first, second)
        if variant == "cli_rebuilt":  # its process still waits on the calls: answer it
            self.step(stack, tag, messages, f"{variant} #{n} release")
        return trip

    def check(self, trip: Trip, events: dict[str, dict[str, Any]]) -> None:
        """What the client got, the upstream requests and, on the cli worker, how each
        request was served; every departure from the plan is a problem of the trip."""
        first, second = trip.first, trip.second
        calls = 2 if trip.variant == "cli_held_two" else 1
        expected_answer = tool_answer(list(RESULTS[:calls]))
        if first.finish != "tool_calls" or len(first.call_ids) != calls:
            trip.problems.append(
                f"request 1: finish {first.finish} with {len(first.call_ids)} calls,"
                f" expected tool_calls with {calls}"
            )
        preamble = "" if trip.variant == "cli_held_two" else FN_PREAMBLE  # fn_two: calls only
        if first.text != preamble:
            trip.problems.append(f"request 1: text {first.text!r}, expected {preamble!r}")
        if second.finish != "stop" or second.text != expected_answer:
            trip.problems.append(
                f"request 2: finish {second.finish} text {second.text!r},"
                f" expected stop {expected_answer!r}"
            )
        for label, step in (("request 1", first), ("request 2", second)):
            if step.upstream != 1:
                trip.problems.append(f"{label}: {step.upstream} upstream requests, expected 1")
        if trip.variant != "api":
            for step in (first, second):
                info = events.get(step.request_id, {})
                step.served = str(info.get("served", ""))
                step.rebuild_reason = str(info.get("rebuild_reason", ""))
                step.pid = int(info.get("pid", 0))
                step.bytes_written = int(info.get("bytes_written", 0))
            # A fresh process: a warm one, or a cold spawn once the worker gave up warming.
            fresh = "cold" if self.warm_failed() else "warm"
            if first.served != fresh:
                trip.problems.append(f"request 1: served {first.served or '?'}, expected {fresh}")
            if trip.variant == "cli_rebuilt":
                if second.served != fresh:
                    trip.problems.append(
                        f"request 2: served {second.served or '?'}, expected {fresh} (rebuilt)"
                    )
                if not _carries_tool_blocks(second.upstream_blocks):
                    trip.problems.append("request 2: no tool_use / tool_result blocks upstream")
            elif (second.served, second.pid) != ("live", first.pid):
                trip.problems.append(
                    f"request 2: served {second.served or '?'} by pid {second.pid},"
                    f" expected live by pid {first.pid}"
                )
        for problem in trip.problems:
            self.anomalies.append(f"{trip.variant} #{trip.round} {problem}")


def _results(call_ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": call_id, "content": content}
        for call_id, content in zip(call_ids, RESULTS, strict=False)
    ]


def _block_types(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return ["text"]
    return [str(b.get("type")) for b in content or [] if isinstance(b, dict)]


def _carries_tool_blocks(blocks: list[list[str]]) -> bool:
    found = {t for message in blocks for t in message}
    return {"tool_use", "tool_result"} <= found


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for message in body.get("messages", [])
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def _results_as_blocks(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with every string tool_result content written as one text block (the form the
    CLI gives an MCP tool's result)."""
    copy = json.loads(json.dumps(body))
    for block in _tool_results(copy):
        if isinstance(block.get("content"), str):
            block["content"] = [{"type": "text", "text": block["content"]}]
    return dict(copy)


def _shape(body: dict[str, Any]) -> str:
    """The upstream request minus `metadata` (it names the CLI process's session), tool ids
    numbered in order of appearance (the mock's ids differ from one round trip to the next)."""
    kept = json.dumps({k: v for k, v in body.items() if k != "metadata"}, sort_keys=True)
    ids: dict[str, str] = {}
    numbered = TOOL_ID.sub(lambda m: ids.setdefault(m.group(0), f"toolu_{len(ids)}"), kept)
    return hashlib.sha256(numbered.encode()).hexdigest()[:16]


def _session_events(stack: Stack) -> dict[str, dict[str, Any]]:
    status, body = stack.get("/events?type=session&limit=1000")
    if status != 200:
        raise RuntimeError(f"GET /events answered {status}")
    return {e["data"]["request_id"]: e["data"] for e in body["events"]}


# --- the report ----------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _version() -> str:
    out = subprocess.run(
        [claude_bin(), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    return out.stdout.strip()


def _counts(values: list[int]) -> str:
    """Upstream requests per request over the samples: `1` when always one, else each value."""
    distinct = sorted(set(values))
    return str(distinct[0]) if len(distinct) == 1 else ",".join(str(v) for v in values)


def _one_and_same(shapes: dict[str, list[str]]) -> bool:
    """Every variant's request 2 reached the upstream as one and the same request."""
    return len({shape for found in shapes.values() for shape in found}) == 1


def _served(steps: Iterable[Step]) -> str:
    return ",".join(sorted({step.served or "?" for step in steps}))


def main() -> None:
    workers = {
        "api": {"name": "api", "mode": "api", "api_key": "sk-ant-api03-bench"},
        "cli": {"name": "cli", "mode": "cli", "bin": claude_bin(), "token": "sk-ant-oat01-bench"},
    }
    started, load_before = time.monotonic(), os.getloadavg()
    trips: list[Trip] = []
    with MockUpstream() as upstream:
        common = {"ANTHROPIC_BASE_URL": upstream.base_url}
        api = Stack({"WORKERS": json.dumps([workers["api"]]), **common})
        cli = Stack({"WORKERS": json.dumps([workers["cli"]]), **common})
        bench = Bench(api, cli, upstream)
        try:
            api.start()
            cli.start()
            # Once each, unmeasured: connections, page cache, and the cli worker learns the
            # signature (its warm processes for the tool set start after this).
            for variant in VARIANTS:
                bench.trip(variant, 0)
            bench.warming = False
            bench.quiet("the warm pool after the warm-up")
            for n in range(1, ROUNDS + 1):
                shift = (n - 1) % len(VARIANTS)
                for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                    trips.append(bench.trip(variant, n))
            events = _session_events(cli)
            for trip in trips:
                bench.check(trip, events)
            if bench.warm_failed():
                bench.anomalies.insert(
                    0,
                    "the cli worker's warm processes for the tool set never became ready"
                    f" (warm_fallback {bench.fallbacks}): every fresh cli process was a cold"
                    " spawn, request 1 and the rebuilt request 2 included",
                )
        finally:
            for stack in (api, cli):
                if stack.process is not None:
                    stack.stop()
    elapsed, load_after = time.monotonic() - started, os.getloadavg()
    _report(trips, bench.anomalies, elapsed, (load_before, load_after))


def _report(
    trips: list[Trip],
    anomalies: list[str],
    elapsed: float,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> None:
    good = {v: [t for t in trips if t.variant == v and not t.problems] for v in VARIANTS}
    every = {v: [t for t in trips if t.variant == v] for v in VARIANTS}

    def med(variant: str, of: Callable[[Trip], float]) -> float:
        return _median([of(t) for t in good[variant]])

    total = {v: med(v, lambda t: t.total_s) for v in VARIANTS}
    first = {v: med(v, lambda t: t.first.wall_s) for v in VARIANTS}
    second = {v: med(v, lambda t: t.second.wall_s) for v in VARIANTS}
    compared = ("cli_held", "cli_rebuilt")
    shapes = {v: sorted({t.second.upstream_shape for t in every[v]}) for v in compared}
    as_blocks = {v: sorted({t.second.upstream_shape_as_blocks for t in every[v]}) for v in compared}
    forms = {v: sorted({f for t in every[v] for f in t.second.result_forms}) for v in compared}
    same_upstream = _one_and_same(shapes)
    if same_upstream:
        same_text = "yes"
    elif _one_and_same(as_blocks):
        same_text = "the same but for the tool_result content: " + ", ".join(
            f"{'/'.join(forms[v])} {v.removeprefix('cli_')}" for v in compared
        )
    else:
        same_text = f"**no**: {shapes}"
    ratios = {
        "cli_held_over_api": total["cli_held"] / total["api"],
        "cli_rebuilt_over_api": total["cli_rebuilt"] / total["api"],
        "cli_held_over_cli_rebuilt": total["cli_held"] / total["cli_rebuilt"],
        "request_2_cli_held_over_api": second["cli_held"] / second["api"],
        "request_2_cli_rebuilt_over_api": second["cli_rebuilt"] / second["api"],
        "request_2_cli_held_over_cli_rebuilt": second["cli_held"] / second["cli_rebuilt"],
    }
    labels = {
        "api": "api worker",
        "cli_held": "cli worker, held process",
        "cli_rebuilt": "cli worker, rebuilt conversation",
        "cli_held_two": "cli worker, held process, two parallel calls",
    }
    header = [
        "variant",
        "round trip",
        "request 1 (calls out)",
        "request 2 (results in, answer)",
        "upstream requests 1 / 2",
        "served 1 / 2",
        "bytes written by request 2",
        "samples",
    ]
    rows = [
        [
            labels[v],
            _ms(total[v]),
            _ms(first[v]),
            _ms(second[v]),
            f"{_counts([t.first.upstream for t in every[v]])} /"
            f" {_counts([t.second.upstream for t in every[v]])}",
            "-"
            if v == "api"
            else f"{_served(t.first for t in every[v])} / {_served(t.second for t in every[v])}",
            "-"
            if v == "api"
            else f"{_median([float(t.second.bytes_written) for t in good[v]]):.0f}",
            f"{len(good[v])} of {len(every[v])}",
        ]
        for v in VARIANTS
    ]
    table = [
        (
            "**round trip, cli held / api**",
            f"{ratios['cli_held_over_api']:.2f} (+{_ms(total['cli_held'] - total['api'])})",
        ),
        (
            "**round trip, cli rebuilt / api**",
            f"{ratios['cli_rebuilt_over_api']:.2f} (+{_ms(total['cli_rebuilt'] - total['api'])})",
        ),
        ("**round trip, cli held / cli rebuilt**", f"{ratios['cli_held_over_cli_rebuilt']:.2f}"),
        ("request 2 alone, cli held / api", f"{ratios['request_2_cli_held_over_api']:.2f}"),
        ("request 2 alone, cli rebuilt / api", f"{ratios['request_2_cli_rebuilt_over_api']:.2f}"),
        (
            "request 2 alone, cli held / cli rebuilt",
            f"{ratios['request_2_cli_held_over_cli_rebuilt']:.2f}",
        ),
        (
            "upstream requests per tool step (request 1 / request 2), every variant",
            " ; ".join(
                f"{v}: {_counts([t.first.upstream for t in every[v]])} /"
                f" {_counts([t.second.upstream for t in every[v]])}"
                for v in VARIANTS
            ),
        ),
        (
            "two parallel calls through the held process: request 2 upstream requests / time",
            f"{_counts([t.second.upstream for t in every['cli_held_two']])} /"
            f" {_ms(second['cli_held_two'])}",
        ),
        (
            "upstream request 2 the same held / rebuilt (tool ids aside)",
            same_text,
        ),
        ("samples per variant (rounds, order rotating)", str(ROUNDS)),
        (
            "anomalies (listed below; a round trip with one is left out of the medians)",
            str(len(anomalies)),
        ),
        ("wall time of the benchmark", f"{elapsed:.0f} s"),
        ("load average (1 min) before / after", f"{load[0][0]:.1f} / {load[1][0]:.1f}"),
    ]
    write_result(
        "tools",
        {
            "cli_version": _version(),
            "rounds": ROUNDS,
            "elapsed_s": elapsed,
            "load_average_before_after": list(load),
            "medians_s": {
                v: {"round_trip": total[v], "request_1": first[v], "request_2": second[v]}
                for v in VARIANTS
            },
            "ratios": ratios,
            "upstream_requests": {
                v: {
                    "request_1": [t.first.upstream for t in every[v]],
                    "request_2": [t.second.upstream for t in every[v]],
                }
                for v in VARIANTS
            },
            "upstream_request_2_shapes": shapes,
            "upstream_request_2_same_held_rebuilt": same_upstream,
            "upstream_request_2_shapes_results_as_blocks": as_blocks,
            "upstream_request_2_tool_result_forms": forms,
            "trips": [t.record() for t in trips],
            "anomalies": anomalies,
        },
        table,
        sections=[(f"Medians of {ROUNDS} round trips per variant", header, rows)],
        notes=[
            "Two stacks side by side on the mock upstream: one api worker, one cli worker"
            " (default settings), the same two tools declared on every request, non-streaming"
            " requests through the official openai client. Round trip: request 1 (the question)"
            " until its tool_calls arrive plus request 2 (the messages, the assistant message and"
            " the tool results) until the final text; the client's own tool time is not counted."
            " Held: one X-Session-Id, request 2 answers the calls the awaiting CLI process"
            " waits on (served live, same pid). Rebuilt: request 2 with a new X-Session-Id, so"
            " the whole conversation with real tool_use / tool_result blocks is written into a"
            " fresh process (a warm one, or a cold spawn when the worker's warm pool failed for"
            " the tool set: see `served`). Each request is sent once the cli stack is quiet; the"
            " variants are interleaved in rounds and the ratios are of medians measured in this"
            " run.",
            *(["", "Anomalies:", ""] if anomalies else []),
            *(f"* {anomaly}" for anomaly in anomalies),
        ],
    )
