"""Proxy overhead on a CLI run: one completion through the stack vs the same CLI run by hand.

Both sides run the pinned CLI with the same flags and child environment against the same mock
upstream on 127.0.0.1, interleaved round by round.

Cold (MAX_IDLE_PROCESSES=0, a new process per request, as the direct run): each round times
  direct      the CLI started by hand (workerd's argv and env, the user line on stdin): to the
              `result` line (the answer) and to its exit
  workerd     Worker.Run on the workerd's socket: to the `session` event (process started), the
              `finish` event (the result parsed) and the end of the stream
  controller  Controller.Complete on the controller's socket, to the end of the stream
  http        POST /v1/chat/completions on a kept-alive connection, to the whole body
Each entry point adds one hop to the one before it. A CLI run's own time varies by tens of ms
from run to run (more on a busy machine), so differences between runs are noisy; the HTTP
run's timeline is exact: the client's, the controller's (its events) and workerd's (its log)
stamps of the same run give the proxy's own time before the CLI started and after it answered.

Warm (the defaults: WARM_PROCESSES=2): each request a new conversation, served by a process
started ahead of it; against the direct cold start of the same round.

Inside workerd (bench/cli_steps.py): each step of a cold run, timed in-process.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import grpc
import openai

from bench import cli_steps
from bench.report import write_result
from protos import common_pb2 as pb
from protos import controller_pb2, controller_pb2_grpc, worker_pb2, worker_pb2_grpc
from tests.mock_upstream import MockUpstream
from tests.stack import TOKEN, Stack, claude_bin, wait_until
from workerd.cli.child_env import child_env
from workerd.cli.invocation import build_invocation

ROUNDS = int(os.environ.get("BENCH_OVERHEAD_ROUNDS", "16"))
TIMEOUT_S = 60.0
WORKER = "1"
RESULT_PREFIX = b'{"type":"result"'
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
BUSY_STATES = frozenset({"starting", "running", "stopping"})
WARM_PAUSE_S = 0.5  # a warm process by hand waits this long for its request, untimed


@dataclass(frozen=True)
class DirectCli:
    """A `claude -p` started by hand the way workerd starts one: its argv, env and user line."""

    argv: list[str]
    env: dict[str, str]
    final_line: str


def direct_cli(base_url: str, home: Path, text: str = "bench direct") -> DirectCli:
    """The proxy's flags and child environment for a one-message chat, in `home`."""
    request = chat_request(text)
    system = home / "system.txt"
    system.write_text("")
    invocation = build_invocation(
        claude_bin(), request, str(system), agent=None, max_prompt_chars=400_000
    )
    env = child_env(
        os.environ,
        worker="bench",
        state_dir=str(home),
        home=str(home),
        config_dir=str(home / "config"),
        token="sk-ant-oat01-bench",
        api_key="",
        base_url=base_url,
        max_retries=1,
        extra={},
        request=invocation.env,
    )
    return DirectCli(invocation.argv, env, invocation.final_line)


def chat_request(text: str) -> pb.ChatRequest:
    request = pb.ChatRequest(request_id=uuid.uuid4().hex, model="sonnet")
    request.messages.add(role=pb.ROLE_USER).content.add(text=text)
    return request


# --- one run at each entry point ---------------------------------------------------------


@dataclass(frozen=True)
class DirectTimes:
    started: float  # Popen returned: the process exists
    answer: float  # its `result` line was read
    exited: float


def start_by_hand(cli: DirectCli, home: Path) -> subprocess.Popen[bytes]:
    """The CLI started by hand: its stdin and stdout piped, its stderr dropped, in `home`."""
    return subprocess.Popen(
        cli.argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=cli.env,
        cwd=home,
    )


def direct_run(base_url: str, home: Path) -> DirectTimes:
    """The user line goes in at once and stdin is closed, as `claude -p` is used by hand."""
    cli = direct_cli(base_url, home)
    begin = time.monotonic()
    proc = start_by_hand(cli, home)
    started = time.monotonic() - begin
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(cli.final_line.encode() + b"\n")
    proc.stdin.close()
    answer = 0.0
    for line in proc.stdout:
        if line.startswith(RESULT_PREFIX):
            answer = time.monotonic() - begin
    proc.wait(TIMEOUT_S)
    exited = time.monotonic() - begin
    assert answer and proc.returncode == 0, f"the direct CLI run failed ({proc.returncode})"
    return DirectTimes(started, answer, exited)


@dataclass(frozen=True)
class WorkerTimes:
    started: float  # the `session` event: the workerd has spawned the process
    answer: float  # the `finish` event: the result line parsed
    ended: float  # the end of the stream


def worker_run(stub: worker_pb2_grpc.WorkerStub) -> WorkerTimes:
    marks: dict[str, float] = {}
    begin = time.monotonic()
    run = worker_pb2.RunRequest(chat=chat_request("bench worker"), attempt=1)
    for event in stub.Run(run, timeout=TIMEOUT_S):
        kind = event.WhichOneof("kind")
        assert kind != "error", event.error.message
        marks.setdefault(kind, time.monotonic() - begin)
    return WorkerTimes(marks["session"], marks["finish"], time.monotonic() - begin)


def controller_run(stub: controller_pb2_grpc.ControllerStub) -> float:
    begin = time.monotonic()
    for event in stub.Complete(chat_request("bench controller"), timeout=TIMEOUT_S):
        assert not event.HasField("error"), event.error.message
    return time.monotonic() - begin


def http_run(conn: http.client.HTTPConnection, text: str = "bench proxy") -> float:
    """A raw request on a kept-alive connection: the client's own cost is about 0.2 ms."""
    body = json.dumps({"model": "sonnet", "messages": [{"role": "user", "content": text}]})
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    begin = time.monotonic()
    conn.request("POST", "/v1/chat/completions", body.encode(), headers)
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.monotonic() - begin
    assert response.status == 200, payload[:300]
    return elapsed


# --- one HTTP run's timeline: each process's own stamps, the CLI's time left out --------


@dataclass(frozen=True)
class Timeline:
    """Wall-clock stamps of one HTTP run, from the client, the controller's events and
    workerd's log (whose stamps have 1 ms steps): the proxy's own time is what lies before
    the CLI had the request and after it answered, whatever the CLI's own time in that run."""

    sent: float  # the client sent the request
    admitted: float  # the controller's `request` event
    spawned: float  # workerd: "child N started" (cold) or "child N ready -> running" (warm)
    answered: float  # workerd: "child N running -> stopping" or "-> parked": result parsed
    completed: float  # the controller's `complete` event: the worker's stream ended
    received: float  # the client has the whole body

    @property
    def before_cli(self) -> float:
        return self.spawned - self.sent

    @property
    def after_answer(self) -> float:
        return self.received - self.answered


COLD_MARKS = ("started", "running -> stopping")  # a new process, retired after its turn
WARM_MARKS = ("ready -> running", "running -> parked")  # a warm one, kept for the conversation


def timed_http_run(
    conn: http.client.HTTPConnection,
    admin: controller_pb2_grpc.AdminStub,
    log: Path,
    marks: tuple[str, str] = COLD_MARKS,
    text: str = "bench proxy",
) -> Timeline:
    since = admin.ListEvents(controller_pb2.ListEventsRequest(limit=1), timeout=5).last_id
    sent = time.time()
    http_run(conn, text)
    received = time.time()
    events = admin.ListEvents(controller_pb2.ListEventsRequest(since_id=since, limit=100)).events
    stamps = {event.type: event for event in events}
    pid = json.loads(stamps["session"].data_json)["pid"]
    began = log_stamp(log, f"child {pid} {marks[0]}")
    answered = log_stamp(log, f"child {pid} {marks[1]}")
    return Timeline(sent, stamps["request"].ts, began, answered, stamps["complete"].ts, received)


def log_stamp(log: Path, message: str) -> float:
    """When workerd logged `message` (the middle of its millisecond). Its log reaches the file
    through supervisord, a moment later: read until the line is there."""
    found: list[float] = []

    def logged() -> bool:
        found.extend(_stamps(log.read_text(), f": {message}"))
        return bool(found)

    wait_until(logged, 10, f"workerd to log {message!r}")
    return found[-1]


def _stamps(text: str, needle: str) -> list[float]:
    stamps = []
    for line in text.splitlines():
        found = LOG_STAMP.match(line)
        if found and needle in line:
            seconds = time.mktime(time.strptime(found[1], "%Y-%m-%d %H:%M:%S"))
            stamps.append(seconds + int(found[2]) / 1000 + 0.0005)
    return stamps


# --- the stacks ----------------------------------------------------------------------------


@contextmanager
def running_stack(base_url: str, **settings: str) -> Iterator[Stack]:
    workers = [{"name": WORKER, "bin": claude_bin(), "token": "sk-ant-oat01-bench", "mode": "cli"}]
    stack = Stack({"WORKERS": json.dumps(workers), "ANTHROPIC_BASE_URL": base_url, **settings})
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def worker_channel(stack: Stack) -> grpc.Channel:
    return grpc.insecure_channel(f"unix:{stack.state_dir / f'worker-{WORKER}.sock'}")


def controller_channel(stack: Stack) -> grpc.Channel:
    return grpc.insecure_channel(f"unix:{stack.state_dir / 'controller.sock'}")


@dataclass
class ColdRounds:
    direct: list[DirectTimes]
    worker: list[WorkerTimes]
    controller: list[float]
    http: list[float]
    timelines: list[Timeline]


def cold_rounds(upstream: MockUpstream, home: Path) -> ColdRounds:
    """A new process for every request on both sides (bench/sessions.py measures what warm
    processes and live conversations save)."""
    with running_stack(upstream.base_url, MAX_IDLE_PROCESSES="0") as stack:
        with worker_channel(stack) as wch, controller_channel(stack) as cch:
            worker = worker_pb2_grpc.WorkerStub(wch)
            controller = controller_pb2_grpc.ControllerStub(cch)
            admin = controller_pb2_grpc.AdminStub(cch)
            log = stack.state_dir / "logs" / f"workerd-{WORKER}.log"
            conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=TIMEOUT_S)
            try:
                rounds = ColdRounds([], [], [], [], [])
                for n in range(ROUNDS + 1):  # round 0 warms up caches, connections, imports
                    settle(worker)
                    direct = direct_run(upstream.base_url, home)
                    settle(worker)
                    through_worker = worker_run(worker)
                    settle(worker)
                    through_controller = controller_run(controller)
                    settle(worker)
                    timeline = timed_http_run(conn, admin, log)
                    if n:
                        rounds.direct.append(direct)
                        rounds.worker.append(through_worker)
                        rounds.controller.append(through_controller)
                        rounds.http.append(timeline.received - timeline.sent)
                        rounds.timelines.append(timeline)
            finally:
                conn.close()
    return rounds


@dataclass
class WarmRounds:
    direct: list[DirectTimes]
    by_hand_warm: list[float]
    http: list[float]
    timelines: list[Timeline]
    served: list[str]


def warm_rounds(upstream: MockUpstream, home: Path) -> WarmRounds:
    """The default pool: a warm process is ready before each request (waited for untimed)."""
    with running_stack(upstream.base_url) as stack:
        with worker_channel(stack) as wch, controller_channel(stack) as cch:
            worker = worker_pb2_grpc.WorkerStub(wch)
            admin = controller_pb2_grpc.AdminStub(cch)
            log = stack.state_dir / "logs" / f"workerd-{WORKER}.log"
            conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=TIMEOUT_S)
            try:
                rounds = WarmRounds([], [], [], [], [])
                http_run(conn, "bench warm")  # the signature learnt: warm processes follow it
                for n in range(ROUNDS + 1):  # round 0 warms up caches, connections, imports
                    settle(worker, ready=True)
                    direct = direct_run(upstream.base_url, home)
                    settle(worker, ready=True)
                    by_hand = warm_by_hand_run(upstream.base_url, home)
                    settle(worker, ready=True)
                    # A new conversation each time: a warm process, not the last one's.
                    timeline = timed_http_run(conn, admin, log, WARM_MARKS, f"bench warm {n}")
                    if n:
                        rounds.direct.append(direct)
                        rounds.by_hand_warm.append(by_hand)
                        rounds.http.append(timeline.received - timeline.sent)
                        rounds.timelines.append(timeline)
            finally:
                conn.close()
        sessions = stack.events("session")[-ROUNDS:]
        rounds.served = [str(event.get("served", "")) for event in sessions]
    return rounds


def warm_by_hand_run(base_url: str, home: Path) -> float:
    """A CLI started by hand and made ready as workerd makes a warm one (`initialize`
    answered), then given the user line: the time to its result line is a warm turn's own."""
    cli = direct_cli(base_url, home, "bench warm by hand")
    initialize = {
        "type": "control_request",
        "request_id": "w",
        "request": {"subtype": "initialize"},
    }
    proc = start_by_hand(cli, home)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(initialize).encode() + b"\n")
        proc.stdin.flush()
        read_until(proc.stdout, lambda line: b'"control_response"' in line)
        time.sleep(WARM_PAUSE_S)  # idle as a warm process is before its request
        begin = time.monotonic()
        proc.stdin.write(cli.final_line.encode() + b"\n")
        proc.stdin.flush()
        read_until(proc.stdout, lambda line: line.startswith(RESULT_PREFIX))
        return time.monotonic() - begin
    finally:
        proc.stdin.close()
        proc.wait(TIMEOUT_S)


def read_until(stdout: IO[bytes], wanted: Callable[[bytes], bool]) -> None:
    for line in stdout:
        if wanted(line):
            return
    raise AssertionError("the CLI run by hand ended early")


def settle(stub: worker_pb2_grpc.WorkerStub, ready: bool = False) -> None:
    """Untimed, before each run: no process of the worker starting, running or exiting (they
    would share the CPU with the next run), and with `ready` a warm one waiting."""

    def settled() -> bool:
        states = [p.state for p in stub.ListProcesses(worker_pb2.ListProcessesRequest()).processes]
        return not BUSY_STATES.intersection(states) and (not ready or "ready" in states)

    wait_until(settled, TIMEOUT_S, "the worker's processes to settle")


def inside_workerd(upstream: MockUpstream, home: Path) -> cli_steps.StepResult:
    """The steps of a cold run inside workerd, timed in-process (bench/cli_steps.py)."""

    def by_hand() -> tuple[list[str], dict[str, str], Path, str]:
        cli = direct_cli(upstream.base_url, home)
        return cli.argv, cli.env, home, cli.final_line

    root = Path(tempfile.mkdtemp(prefix="ccp-bench-steps-"))
    return cli_steps.measure(root, claude_bin(), upstream.base_url, ROUNDS, by_hand)


def upstream_body_bytes(upstream: MockUpstream, home: Path) -> int:
    upstream.clear()
    direct_run(upstream.base_url, home)
    return upstream.message_requests()[0].size


def openai_client_ms() -> float:
    """What building an `openai.OpenAI` costs: this bench once built one per request."""
    times = []
    for _ in range(5):
        begin = time.monotonic()
        openai.OpenAI(base_url="http://127.0.0.1:1/v1", api_key="x").close()
        times.append(time.monotonic() - begin)
    return statistics.median(times) * 1000


# --- the report ----------------------------------------------------------------------------


def ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000


def paired_ms(a: Sequence[float], b: Sequence[float]) -> float:
    """Median of the per-round differences a - b: rounds share the machine's state."""
    return statistics.median(x - y for x, y in zip(a, b, strict=True)) * 1000


def spread_ms(values: Sequence[float]) -> float:
    quartiles = statistics.quantiles(values, n=4)
    return (quartiles[2] - quartiles[0]) * 1000


def fmt(value: float) -> str:
    return f"{value:.1f} ms"


def of(items: Sequence[object], field: str) -> list[float]:
    return [float(getattr(item, field)) for item in items]


def step_rows(cold: ColdRounds) -> list[list[str]]:
    rows = []
    for step, direct_field, worker_field in (
        ("process started", "started", "started"),
        ("answer (result line / finish event)", "answer", "answer"),
        ("end (process exit / end of stream)", "exited", "ended"),
    ):
        direct, worker = of(cold.direct, direct_field), of(cold.worker, worker_field)
        rows.append([step, fmt(ms(direct)), fmt(ms(worker)), fmt(paired_ms(worker, direct))])
    return rows


def own_times(timelines: Sequence[Timeline], spawn_s: float = 0.0) -> list[float]:
    """Per run, the proxy's own time: before the CLI had the request and after it answered,
    less `spawn_s`, the spawn a cold run by hand pays too (its Popen)."""
    return [t.before_cli + t.after_answer - spawn_s for t in timelines]


def cold_own_times(cold: ColdRounds) -> list[float]:
    return own_times(cold.timelines, statistics.median(of(cold.direct, "started")))


def timeline_rows(
    timelines: Sequence[Timeline],
    began: str,
    by_hand: tuple[str, Sequence[float]],
    own: list[float],
) -> list[list[str]]:
    segments = (
        ("client -> controller (HTTP, frontdoor, gRPC)", "sent", "admitted"),
        (f"controller -> CLI {began} (queue, Worker.Run, process)", "admitted", "spawned"),
        (f"the CLI: {began} -> its result parsed", "spawned", "answered"),
        ("result -> the worker's stream ended at the controller", "answered", "completed"),
        ("controller -> client (frontdoor, HTTP)", "completed", "received"),
    )
    rows = [
        [label, fmt(statistics.median(getattr(t, b) - getattr(t, a) for t in timelines) * 1000)]
        for label, a, b in segments
    ]
    rows.append([f"(the CLI by hand: {by_hand[0]})", fmt(ms(by_hand[1]))])
    rows.append(["the proxy's own time (before + after the CLI)", fmt(ms(own))])
    return rows


def hop_rows(cold: ColdRounds) -> list[list[str]]:
    answer = of(cold.direct, "answer")
    worker = of(cold.worker, "ended")
    return [
        ["workerd (Worker.Run to its end - direct to the answer)", fmt(paired_ms(worker, answer))],
        ["controller (Controller.Complete - Worker.Run)", fmt(paired_ms(cold.controller, worker))],
        [
            "frontdoor and HTTP (HTTP - Controller.Complete)",
            fmt(paired_ms(cold.http, cold.controller)),
        ],
        ["all three (HTTP - direct to the answer)", fmt(paired_ms(cold.http, answer))],
    ]


@dataclass
class Measured:
    cold: ColdRounds
    warm: WarmRounds
    inside: cli_steps.StepResult
    body_bytes: int
    sdk_ms: float


def measure() -> Measured:
    home = Path(tempfile.mkdtemp(prefix="ccp-bench-"))
    with MockUpstream() as upstream:
        cold = cold_rounds(upstream, home)
        warm = warm_rounds(upstream, home)
        inside = inside_workerd(upstream, home)
        body_bytes = upstream_body_bytes(upstream, home)
    return Measured(cold, warm, inside, body_bytes, openai_client_ms())


def figures(m: Measured) -> dict[str, object]:
    return {
        "rounds": ROUNDS,
        "direct_s": [vars(t) for t in m.cold.direct],
        "worker_s": [vars(t) for t in m.cold.worker],
        "controller_s": m.cold.controller,
        "proxy_s": m.cold.http,
        "proxy_timelines": [vars(t) for t in m.cold.timelines],
        "warm_direct_s": [vars(t) for t in m.warm.direct],
        "warm_proxy_s": m.warm.http,
        "warm_by_hand_turn_s": m.warm.by_hand_warm,
        "warm_proxy_timelines": [vars(t) for t in m.warm.timelines],
        "warm_served": m.warm.served,
        "inside_workerd_steps_s": m.inside.steps,
        "inside_workerd_by_hand_s": m.inside.by_hand_s,
        "inside_workerd_run_s": m.inside.run_s,
        "openai_client_build_ms": m.sdk_ms,
        "upstream_body_bytes": m.body_bytes,
    }


def headline(m: Measured) -> list[tuple[str, str]]:
    cold, warm = m.cold, m.warm
    answer, exited = of(cold.direct, "answer"), of(cold.direct, "exited")
    warm_answer = of(warm.direct, "answer")
    return [
        (
            "median CLI run by hand, to its answer / its exit",
            f"{fmt(ms(answer))} / {fmt(ms(exited))}",
        ),
        ("median completion through the proxy, cold process", fmt(ms(cold.http))),
        (
            "median proxy's own time in a cold run (its CLI's time left out)",
            fmt(ms(cold_own_times(cold))),
        ),
        (
            "median added by the proxy, cold (paired, vs the answer)",
            fmt(paired_ms(cold.http, answer)),
        ),
        ("same, vs the direct run's exit", fmt(paired_ms(cold.http, exited))),
        ("median completion through the proxy, warm process", fmt(ms(warm.http))),
        ("median proxy's own time in a warm run", fmt(ms(own_times(warm.timelines)))),
        ("median warm turn by hand (a ready process given the line)", fmt(ms(warm.by_hand_warm))),
        ("warm through the proxy / direct cold start", f"{ms(warm.http) / ms(warm_answer):.2f}x"),
        (
            "warm requests served by a warm process",
            f"{warm.served.count('warm')} of {len(warm.served)}",
        ),
        ("upstream request body, trivial chat", f"{m.body_bytes} bytes"),
        ("same, original proxy (reference, about 115 KB)", f"{115_000 / m.body_bytes:.0f}x larger"),
    ]


def main() -> None:
    m = measure()
    sections = [
        (
            "A cold run through Worker.Run, step by step (medians; added: paired)",
            ["step", "by hand", "Worker.Run", "added"],
            step_rows(m.cold),
        ),
        (
            "One cold HTTP run's timeline (medians; stamps of client, controller and workerd)",
            ["segment", "time"],
            timeline_rows(
                m.cold.timelines,
                "started",
                ("started -> its result line", of(m.cold.direct, "answer")),
                cold_own_times(m.cold),
            ),
        ),
        (
            "One warm HTTP run's timeline (medians)",
            ["segment", "time"],
            timeline_rows(
                m.warm.timelines,
                "lent",
                ("a ready process given the line -> its result line", m.warm.by_hand_warm),
                own_times(m.warm.timelines),
            ),
        ),
        ("Added per hop, cold (medians of paired differences)", ["hop", "added"], hop_rows(m.cold)),
        (
            "Inside workerd, a cold run step by step (in-process, per run, medians)",
            ["step", "time", "on the answer's path"],
            cli_steps.rows(m.inside),
        ),
    ]
    notes = [
        f"{ROUNDS} rounds; each side's runs interleaved. The HTTP client is http.client on a "
        "kept-alive connection; building an `openai.OpenAI` client costs "
        f"{m.sdk_ms:.0f} ms here, which an earlier version of this bench counted in every "
        "request.",
        "Differences between runs (`paired`) carry the CLI's own spread: its runs by hand "
        f"range over {spread_ms(of(m.cold.direct, 'answer')):.0f} ms between the quartiles. "
        "The timelines take each run's own stamps (the proxy's before and after the CLI), "
        "so that spread drops out of them.",
    ]
    write_result("overhead", figures(m), headline(m), sections, notes)


if __name__ == "__main__":
    main()
