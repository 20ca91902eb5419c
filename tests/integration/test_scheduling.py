"""Scheduling on the real stack: fairness, affinity, quota cooldowns, retries, queue limits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mock_upstream import MockUpstream, echo_reply
from tests.stack import FAKE_CLAUDE, Stack, claude_bin, wait_until

pytestmark = pytest.mark.stack


def fake_workers(names: tuple[str, ...], log: Path, max_concurrent: int = 1) -> str:
    entry = {
        "bin": str(FAKE_CLAUDE),
        "token": "sk-ant-oat01-fake",
        "env": {"FAKE_CLAUDE_LOG": str(log)},
    }
    return json.dumps([{**entry, "name": n, "max_concurrent": max_concurrent} for n in names])


def cli_workers(names: tuple[str, ...]) -> str:
    return json.dumps(
        [
            {"name": n, "bin": claude_bin(), "token": f"sk-ant-oat01-test-{n}", "mode": "cli"}
            for n in names
        ]
    )


def chat(
    stack: Stack, text: str, headers: dict[str, str] | None = None, timeout: float = 60
) -> tuple[str, str]:
    """(answer, worker) for one non-streaming request."""
    raw = stack.client(timeout=timeout).chat.completions.with_raw_response.create(
        model="sonnet", messages=[{"role": "user", "content": text}], extra_headers=headers or {}
    )
    return raw.parse().choices[0].message.content or "", raw.headers["x-proxy-worker"]


@pytest.fixture(scope="module")
def fake_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    log = tmp_path_factory.mktemp("sched") / "runs.log"
    settings = {
        "WORKERS": fake_workers(("a", "b"), log),
        "MAX_CONCURRENT": "2",
        "PRIMARY_WORKER": "a",
        # Cold runs only: a failure on a warm process is retried cold by its own worker
        # (test_engine.py), and these tests are about the controller's retries.
        "MAX_IDLE_PROCESSES": "0",
    }
    stack = Stack(settings).start()
    yield stack, log
    stack.stop()


def test_polite_source_is_not_starved_by_a_flood(fake_pair: tuple[Stack, Path]) -> None:
    """Judged by order in the controller's event log, not by latencies: each polite request
    starts after at most two flood requests that were already waiting, however many there are."""
    stack, _ = fake_pair
    answered: list[str] = []

    def ask(source: str, text: str) -> None:
        chat(stack, text, {"X-Source": source})
        answered.append(source)

    flood = [
        threading.Thread(target=ask, args=("flood", f"FAKE:sleep:0.25 f{n}")) for n in range(16)
    ]
    for thread in flood:
        thread.start()
    wait_until(lambda: stack.admin_workers().queued >= 10, 20, "the flood to queue up")
    for n in range(3):  # one at a time, as a polite client would
        ask("polite", f"FAKE:sleep:0.25 p{n}")
    for thread in flood:
        thread.join(60)
    assert sorted(answered) == ["flood"] * 16 + ["polite"] * 3

    log = stack.events()  # oldest first
    source = {e["request_id"]: e["source"] for e in log if e["type"] == "request"}
    arrived = {e["request_id"]: n for n, e in enumerate(log) if e["type"] == "request"}
    started = {e["request_id"]: n for n, e in enumerate(log) if e["type"] == "started"}
    flood_ids = [rid for rid, src in source.items() if src == "flood" and rid in started]
    waiting_ahead, overtaken = [], []
    for polite in (rid for rid, src in source.items() if src == "polite"):
        ahead = [f for f in flood_ids if arrived[f] < arrived[polite] < started[f]]
        waiting_ahead.append(len(ahead))
        overtaken.append(sum(1 for f in ahead if started[f] < started[polite]))
    print(f"\nfairness: flood waiting ahead {waiting_ahead}, started first {overtaken}")
    assert len(overtaken) == 3 and waiting_ahead[0] >= 5  # first-come order would starve it
    assert max(overtaken) <= 2


def test_a_failure_before_output_is_retried_on_the_other_worker(
    fake_pair: tuple[Stack, Path], tmp_path: Path
) -> None:
    stack, log = fake_pair
    flag = tmp_path / "crashed-once"
    body = {
        "model": "sonnet",
        "stream": True,
        "messages": [{"role": "user", "content": f"FAKE:crash_once:{flag} retry me"}],
    }
    status, headers, raw = stack.request("POST", "/v1/chat/completions", json.dumps(body).encode())

    assert status == 200
    runs = [line.split() for line in log.read_text().splitlines() if str(flag) in line]
    assert (
        len(runs) == 2 and runs[0][1] != runs[1][1]
    )  # crashed on one worker, answered on the other
    assert headers["X-Proxy-Worker"] == runs[1][1]
    events = [e for e in raw.decode().split("\n\n") if e.strip()]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events if e != "data: [DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == f"fake says: FAKE:crash_once:{flag} retry me"
    assert events.count("data: [DONE]") == 1
    assert sum(1 for c in chunks if c["choices"][0]["finish_reason"]) == 1
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("role")) == 1
    retries = [e for e in stack.events("retry") if e["failed_worker"] == runs[0][1]]
    assert retries and retries[-1]["error"] == "WORKER_CRASHED"


@pytest.fixture(scope="module")
def real_pair(upstream: MockUpstream) -> Iterator[Stack]:
    settings = {"WORKERS": cli_workers(("1", "2")), "ANTHROPIC_BASE_URL": upstream.base_url}
    stack = Stack(settings).start()
    yield stack
    stack.stop()


def test_a_session_sticks_to_its_worker_and_sessions_spread(real_pair: Stack) -> None:
    pinned = {chat(real_pair, f"turn {n}", {"X-Session-Id": "conv-A"})[1] for n in range(4)}
    assert len(pinned) == 1
    spread = {chat(real_pair, "hello", {"X-Session-Id": f"conv-{n}"})[1] for n in range(6)}
    assert spread == {"1", "2"}


def test_turns_of_one_conversation_follow_it_without_a_session_id(real_pair: Stack) -> None:
    history: list[dict[str, str]] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
    ]
    workers = set()
    for turn in range(3):
        raw = real_pair.client().chat.completions.with_raw_response.create(
            model="sonnet",
            messages=history,  # type: ignore[arg-type]
            extra_headers={"X-Source": "ide"},
        )
        workers.add(raw.headers["x-proxy-worker"])
        history += [
            {"role": "assistant", "content": raw.parse().choices[0].message.content or ""},
            {"role": "user", "content": f"follow-up {turn}"},
        ]
    assert len(workers) == 1


def test_an_account_that_hits_its_limit_cools_down_and_comes_back(upstream: MockUpstream) -> None:
    settings = {"WORKERS": cli_workers(("1", "2")), "ANTHROPIC_BASE_URL": upstream.base_url}
    stack = Stack(settings).start()
    try:
        # Both idle and unused: the first request goes to PRIMARY_WORKER 1, the limited account.
        answer, worker = chat(stack, "SCN:err429tok:-1@10 limited")
        assert (answer, worker) == (echo_reply("limited"), "2")
        limited = stack.worker_state("1")
        assert limited.state == "cooling"
        assert limited.quota_status == "rejected"
        assert limited.cooling_until >= int(time.time()) + 5
        during = {chat(stack, f"while cooling {n}", {"X-Session-Id": f"c{n}"})[1] for n in range(4)}
        assert during == {"2"}
        wait_until(lambda: stack.worker_state("1").state == "up", 25, "worker 1 to come back")
        after = {chat(stack, f"after {n}", {"X-Session-Id": f"d{n}"})[1] for n in range(2)}
        assert "1" in after

        def kinds() -> list[str]:
            return [e["type"] for e in stack.events() if e.get("worker") == "1"]

        assert "cooldown_start" in kinds()
        # The controller's tick notices the end and logs it: no later than the next tick.
        wait_until(lambda: "cooldown_end" in kinds(), 10, "the cooldown_end event")
    finally:
        stack.stop()
