"""Monitoring endpoints on the real stack: shapes, numbers, SSE, processes, restarts, secrets."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import FAKE_CLAUDE, TOKEN, Stack, wait_until

pytestmark = pytest.mark.stack
WORKER_TOKENS = {name: f"sk-ant-oat01-monitoring-secret-{name}" for name in ("a", "b")}
SECRETS = (TOKEN, *WORKER_TOKENS.values())
TOKEN_KEYS = ("input", "output", "total", "requests")


def settings(log: Path) -> dict[str, str]:
    workers = [
        {
            "name": name,
            "bin": str(FAKE_CLAUDE),
            "token": token,
            "env": {"FAKE_CLAUDE_LOG": str(log)},
        }
        for name, token in WORKER_TOKENS.items()
    ]
    # One attempt: a killed or crashed CLI fails its request instead of moving to the other worker.
    return {"WORKERS": json.dumps(workers), "STOP_GRACE_MS": "300", "MAX_ATTEMPTS": "1"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(settings(tmp_path_factory.mktemp("monitoring") / "runs.log")).start()
    yield running
    running.stop()


def chat(stack: Stack, text: str, stream: bool = False, source: str = "") -> str:
    """The request id of one completion."""
    client = stack.client()
    messages: Any = [{"role": "user", "content": text}]
    headers = {"X-Source": source} if source else {}
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model="sonnet", messages=messages, stream=True, extra_headers=headers
        ) as response:
            response.read()
            return response.headers["x-request-id"]
    raw = client.chat.completions.with_raw_response.create(
        model="sonnet", messages=messages, extra_headers=headers
    )
    return raw.headers["x-request-id"]


@contextmanager
def sse(stack: Stack, path: str, token: str = TOKEN) -> Iterator[tuple[int, str, Iterator[str]]]:
    """(status, content type, lines) of a streaming GET, read with the standard library."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    response = conn.getresponse()

    def lines() -> Iterator[str]:
        while raw := response.readline():
            yield raw.decode().rstrip("\n")

    try:
        yield response.status, response.getheader("Content-Type", ""), lines()
    finally:
        conn.close()


def get_ok(stack: Stack, path: str) -> Any:
    status, body = stack.get(path)
    assert status == 200, body
    return body


def assert_openai_error(
    stack: Stack, method: str, path: str, status: int, body: bytes = b""
) -> Any:
    code, _, raw = stack.request(method, path, body or None)
    assert code == status, raw
    error = json.loads(raw)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_metrics_shape_and_numbers(stack: Stack) -> None:
    before = get_ok(stack, "/metrics")
    for n in range(3):
        chat(stack, f"count {n}")
    with pytest.raises(openai.APIStatusError):
        chat(stack, "FAKE:crash counted as an error")
    after = get_ok(stack, "/metrics")

    assert set(after) >= {"tokens", "queue", "processes", "workers", "errors", "affinity"}
    assert set(after) >= {"rateLimits", "config", "latency", "requestCounts", "uptimeS"}
    tokens, old = after["tokens"], before["tokens"]
    assert set(tokens) == {"totals", "byModel", "usage"}
    assert set(tokens["usage"]) == {"last1h", "last4h", "last8h", "thisWeek"}
    for figures in (tokens["totals"], tokens["byModel"]["sonnet"], *tokens["usage"].values()):
        assert set(TOKEN_KEYS) <= set(figures)
        assert figures["total"] == figures["input"] + figures["output"]

    def grew(now: dict[str, int], then: dict[str, int] | None) -> dict[str, int]:
        return {key: now[key] - (then or {}).get(key, 0) for key in (*TOKEN_KEYS, "errors")}

    expected = {"input": 9, "output": 12, "total": 21, "requests": 4, "errors": 1}
    assert grew(tokens["totals"], old["totals"]) == expected  # the fake CLI reports 3 in, 4 out
    assert grew(tokens["byModel"]["sonnet"], old["byModel"].get("sonnet")) == expected
    assert grew(tokens["usage"]["last1h"], old["usage"]["last1h"]) == expected
    assert grew(tokens["usage"]["thisWeek"], old["usage"]["thisWeek"]) == expected
    crashed = after["errors"]["byCategory"]["worker_crashed"]
    assert crashed == before["errors"]["byCategory"].get("worker_crashed", 0) + 1
    assert after["errors"]["recent"][0]["category"] == "worker_crashed"
    workers = {w["name"]: w for w in after["workers"]}
    assert set(workers) == {"a", "b"} and all(w["state"] == "up" for w in workers.values())
    assert sum(w["requests"] for w in workers.values()) == tokens["totals"]["requests"]
    assert after["queue"]["depth"] == 0 and after["queue"]["inFlight"] == 0
    assert after["queue"]["waits"]["count"] >= 4
    assert after["affinity"]["lookups"] >= 4
    assert after["config"]["maxAttempts"] == 1 and after["config"]["workerCount"] == 2
    assert {u["worker"] for u in after["rateLimits"]["usage"]} <= {"a", "b"}
    assert after["latency"]["duration"]["count"] == tokens["totals"]["requests"]


def test_prometheus_text_parses_and_agrees_with_metrics(stack: Stack) -> None:
    chat(stack, "for prometheus")
    status, headers, raw = stack.request("GET", "/metrics/prometheus")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(raw.decode())}
    assert families["ccproxy_requests"].type == "counter"
    assert families["ccproxy_queue_depth"].type == "gauge"
    assert families["ccproxy_in_flight"].type == "gauge"
    assert families["ccproxy_worker_state"].type == "gauge"
    assert families["ccproxy_time_to_first_token_seconds"].type == "histogram"
    assert families["ccproxy_request_duration_seconds"].type == "histogram"
    requests = sum(s.value for s in families["ccproxy_requests"].samples)
    totals = get_ok(stack, "/metrics")["tokens"]["totals"]
    assert requests == totals["requests"]
    tokens = {s.labels["kind"]: s.value for s in families["ccproxy_tokens"].samples}
    assert tokens["output"] == totals["output"]
    up = {s.labels["worker"] for s in families["ccproxy_worker_state"].samples if s.value == 1}
    assert up == {"a", "b"}


def test_cli_sessions_reach_metrics_events_and_prometheus(stack: Stack) -> None:
    """Every CLI turn is counted once, by how it was served, on every monitoring view."""
    before = get_ok(stack, "/metrics")["sessions"]
    client = stack.client()
    history: Any = [{"role": "user", "content": "a conversation"}]
    ids = []
    for turn in ("and a second turn", "and a third"):
        raw = client.chat.completions.with_raw_response.create(
            model="sonnet", messages=history, extra_headers={"X-Session-Id": "sessions-test"}
        )
        ids.append(raw.headers["x-request-id"])
        answer = raw.parse().choices[0].message.content
        history += [{"role": "assistant", "content": answer}, {"role": "user", "content": turn}]
    sessions = get_ok(stack, "/metrics")["sessions"]
    assert set(sessions) == {"served", "rebuilds", "processes", "byWorker"}
    assert set(sessions["byWorker"]) == {"a", "b"}
    grown = {k: sessions["served"][k] - before["served"][k] for k in ("live", "warm", "cold")}
    assert sum(grown.values()) == 2 and all(n >= 0 for n in grown.values())
    logged = {e["request_id"]: e for e in stack.events("session") if e["request_id"] in ids}
    assert set(logged) == set(ids)
    assert {e["served"] for e in logged.values()} <= {"live", "warm", "cold"}
    assert len({e["worker"] for e in logged.values()}) == 1  # the conversation stayed put
    assert all(e["pid"] > 0 and e["bytes_written"] > 0 for e in logged.values())

    status, _, raw_text = stack.request("GET", "/metrics/prometheus")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(raw_text.decode())}
    served = get_ok(stack, "/metrics")["sessions"]["served"]
    assert sum(s.value for s in families["ccproxy_cli_turns"].samples) == sum(served.values())
    states = {
        (s.labels["worker"], s.labels["state"]) for s in families["ccproxy_cli_processes"].samples
    }
    assert states == {(w, st) for w in ("a", "b") for st in ("warm", "parked", "running")}
    info = {(s.labels["worker"], s.labels["mode"]) for s in families["ccproxy_worker_info"].samples}
    assert info == {("a", "cli"), ("b", "cli")}
    assert {s.labels["worker"] for s in families["ccproxy_cli_idle_rss_bytes"].samples} == {
        "a",
        "b",
    }


@pytest.mark.parametrize(
    ("window", "bucket", "count"),
    [("1h", 60, 60), ("6h", 300, 72), ("1d", 900, 96), ("7d", 3600, 168)],
)
def test_history_windows(stack: Stack, window: str, bucket: int, count: int) -> None:
    chat(stack, "for history")
    history = get_ok(stack, f"/metrics/history?window={window}")
    assert (history["window"], history["bucketSeconds"], history["count"]) == (
        window,
        bucket,
        count,
    )
    points = history["points"]
    assert len(points) == count and history["to"] - history["from"] == bucket * count
    assert points[-1]["ts"] <= time.time() < points[-1]["ts"] + bucket
    assert sum(p["requests"] for p in points) >= 1
    assert all(p["total"] == p["input"] + p["output"] for p in points)


def test_zombies_and_kill(stack: Stack) -> None:
    error = assert_openai_error(
        stack, "POST", "/kill", 404, json.dumps({"pid": os.getpid()}).encode()
    )
    assert error["param"] == "pid" and error["code"] == "process_not_found"
    assert psutil.pid_exists(os.getpid())
    assert_openai_error(stack, "POST", "/zombies", 400, b"{not json")
    assert_openai_error(stack, "POST", "/kill", 400, b'{"pid": "12"}')
    assert_openai_error(stack, "POST", "/kill", 400, b"{}")

    failures: list[openai.APIStatusError] = []

    def hang() -> None:
        try:
            chat(stack, "FAKE:hang until killed")
        except openai.APIStatusError as exc:
            failures.append(exc)

    def running() -> list[dict[str, Any]]:
        """The processes running a turn (warm ones started ahead may wait beside them)."""
        return [p for p in get_ok(stack, "/zombies")["processes"] if p["state"] == "running"]

    thread = threading.Thread(target=hang)
    thread.start()
    wait_until(lambda: bool(running()), 20, "the CLI child to show")
    listing = get_ok(stack, "/zombies")
    assert set(listing) >= {"processes", "zombies", "maxProcessAgeMs", "maxIdleMs", "byState"}
    child = running()[0]
    assert child["worker"] in ("a", "b") and child["stale"] is False and listing["zombies"] == []
    assert psutil.pid_exists(child["pid"])
    for process in listing["processes"]:
        assert process["state"] in ("starting", "ready", "running", "parked", "stopping")
        assert process["rssBytes"] > 0 and set(process) >= {"conversation", "requestId"}

    status, _, raw = stack.request("POST", "/zombies", json.dumps({"pid": child["pid"]}).encode())
    assert status == 200, raw
    assert json.loads(raw)["result"] == {
        "killed": True,
        "pid": child["pid"],
        "worker": child["worker"],
        "message": "stopped",
    }
    thread.join(30)
    # A deliberate kill is reported as such, and never retried on another worker.
    assert failures and failures[0].status_code == 499
    assert failures[0].body["type"] == "cancelled"  # type: ignore[index]
    wait_until(lambda: not psutil.pid_exists(child["pid"]), 10, "the child to be gone")
    assert running() == []
    assert child["pid"] not in {p["pid"] for p in get_ok(stack, "/zombies")["processes"]}
    kills = [e for e in stack.events("kill") if e["pid"] == child["pid"]]
    assert kills and kills[0]["killed"] is True and kills[0]["manual"] is True


def _outputs(stack: Stack) -> list[str]:
    paths = ["/metrics", "/metrics/prometheus", "/events?limit=1000", "/zombies"]
    paths += [f"/metrics/history?window={w}" for w in ("1h", "7d")]
    texts = [stack.request("GET", path)[2].decode() for path in paths]
    last = get_ok(stack, "/events?limit=1")["lastId"]
    with sse(stack, f"/stream?since_id={max(last - 100, 0)}") as (_, _, lines):
        for line in lines:
            texts.append(line)
            if line == f"id: {last}":
                break
    return texts


def test_no_secret_in_outputs_logs_or_argv(stack: Stack) -> None:
    chat(stack, "one more before the audit")
    texts = _outputs(stack)
    texts += [p.read_text(errors="replace") for p in (stack.state_dir / "logs").glob("*.log")]
    assert stack.process is not None
    tree = psutil.Process(stack.process.pid)
    for proc in [tree, *tree.children(recursive=True)]:
        try:
            texts.append(" ".join(proc.cmdline()))
        except psutil.NoSuchProcess:
            continue
    assert len(texts) > 10
    for secret in SECRETS:
        assert not any(secret in text for text in texts), f"a secret leaked: {secret[:12]}..."


def test_totals_and_events_are_identical_after_a_full_restart(tmp_path: Path) -> None:
    first = Stack(settings(tmp_path / "runs.log")).start()
    try:
        for n in range(2):
            chat(first, f"before restart {n}")
        metrics = get_ok(first, "/metrics")
        events = get_ok(first, "/events?limit=1000")
    finally:
        first.stop()
    second = Stack(first.settings, state_dir=first.state_dir).start()
    try:
        again = get_ok(second, "/metrics")
        replayed = get_ok(second, "/events?limit=1000")
        chat(second, "after restart")
        newer = get_ok(second, f"/events?since_id={events['lastId']}&limit=1000")
    finally:
        second.stop()
    assert again["tokens"]["totals"] == metrics["tokens"]["totals"]
    assert again["tokens"]["totals"]["requests"] == 2
    assert again["tokens"]["byModel"] == metrics["tokens"]["byModel"]
    assert again["tokens"]["usage"]["last1h"] == metrics["tokens"]["usage"]["last1h"]
    kept = [e for e in replayed["events"] if e["id"] <= events["lastId"]]
    assert kept == events["events"]
    for kind, count in events["counts"].items():
        assert replayed["counts"][kind] >= count
    startup = [e for e in replayed["events"] if e["type"] == "startup"]
    assert startup[-1]["id"] > events["lastId"] and startup[-1]["data"]["restored"] > 0
    assert newer["events"] and min(e["id"] for e in newer["events"]) == events["lastId"] + 1
