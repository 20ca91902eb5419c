"""Routing by quota over the controller's real pool, scheduler, RequestRun and Admin service,
with in-process fake workerds (tests/middle/inprocess.py) that report their accounts' windows.

The scripted scenario (three accounts, different windows) is `SCENARIO`; each strategy's
decisions for it are asserted below and listed in the closing report of issue 12.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.workers import WorkerSpec
from controller.scheduling.ratelimit import DEFAULT_LIMITS
from protos import common_pb2 as pb
from protos import controller_pb2
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle

HOUR = 3600
ANSWER = [
    pb.Event(text=pb.TextDelta(text="ok")),
    pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet")),
]
# name: (five_hour utilisation, its reset in s, seven_day utilisation, its reset in s)
SCENARIO = {
    "1": (0.70, HOUR // 2, 0.40, 6 * 24 * HOUR),  # binding 5h 70 %, resets soonest (30 min)
    "2": (0.20, 4 * HOUR, 0.60, 2 * 24 * HOUR),  # binding 7d 60 %
    "3": (0.10, 3 * HOUR, 0.25, 5 * 24 * HOUR),  # binding 7d 25 %: the most headroom
}


def windows(five: float, five_in: int, seven: float, seven_in: int) -> pb.RateLimitStatus:
    now = time.time()
    return pb.RateLimitStatus(
        status="allowed",
        complete=True,
        windows=[
            pb.QuotaWindow(
                window=name,
                status="allowed_warning" if used >= 0.9 else "allowed",
                utilization=used,
                utilization_known=True,
                resets_at=int(now + resets_in),
                seen_at=now,
            )
            for name, used, resets_in in (
                ("five_hour", five, five_in),
                ("seven_day", seven, seven_in),
            )
        ],
    )


def ask(request_id: str, session: str) -> pb.ChatRequest:
    return pb.ChatRequest(
        request_id=request_id,
        model="sonnet",
        source="ide",
        session_key=session,
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hi")])],
    )


async def scenario_rig(root: str, strategy: str) -> Rig:
    rig = await Rig.start(Path(root), {"1": "cli", "2": "cli", "3": "cli"}, quota_strategy=strategy)
    for name, figures in SCENARIO.items():
        rig.workers[name].script = ANSWER
        rig.scheduler.note_quota(name, windows(*figures))
    return rig


async def new_conversations(rig: Rig, count: int) -> list[str]:
    """Where `count` new conversations went, one after another."""
    for n in range(count):
        events = await rig.complete(ask(f"r{n}", f"conv-{n}"))
        assert events[-1].HasField("finish")
    return [e.data["worker"] for e in rig.logged("routed")]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("headroom", ["3", "3", "3", "3"]),  # the lowest binding window (7d 25 %)
        ("spread", ["1", "2", "3", "1"]),  # today's behaviour: alternate
        ("drain-first", ["1", "1", "1", "1"]),  # its 5h window resets in 30 min
    ],
)
async def test_new_conversations_follow_the_strategy(strategy: str, expected: list[str]) -> None:
    with short_state_dir() as root:
        rig = await scenario_rig(root, strategy)
        try:
            assert await new_conversations(rig, 4) == expected
            routed = rig.logged("routed")
            assert {e.data["strategy"] for e in routed} == {strategy}
            assert routed[0].data["reason"].startswith(strategy)
        finally:
            await rig.stop()


async def test_headroom_reason_names_the_binding_window() -> None:
    with short_state_dir() as root:
        rig = await scenario_rig(root, "headroom")
        try:
            await new_conversations(rig, 1)
            (routed,) = rig.logged("routed")
            assert routed.data["reason"].startswith("headroom: seven_day at 25%, resets in 4d")
        finally:
            await rig.stop()


async def test_an_account_past_move_at_gets_no_new_conversation_under_any_strategy() -> None:
    with short_state_dir() as root:
        rig = await scenario_rig(root, "drain-first")
        try:
            rig.scheduler.note_quota("1", windows(0.97, HOUR // 2, 0.40, 6 * 24 * HOUR))
            # 1 still resets soonest, but it is past QUOTA_MOVE_AT: 3 resets next (3 h).
            assert await new_conversations(rig, 2) == ["3", "3"]
        finally:
            await rig.stop()


async def test_a_conversation_stays_until_its_account_passes_move_at_then_moves() -> None:
    with short_state_dir() as root:
        rig = await scenario_rig(root, "headroom")
        try:
            await rig.complete(ask("t1", "long"))
            await rig.complete(ask("t2", "long"))
            assert [e.data["worker"] for e in rig.logged("started")] == ["3", "3"]
            # The account's own answer reports its five-hour window at 96 %.
            rig.workers["3"].script = [
                pb.Event(rate_limit=windows(0.96, 3 * HOUR, 0.25, 5 * 24 * HOUR)),
                *ANSWER,
            ]
            await rig.complete(ask("t3", "long"))  # still on 3: the report comes with it
            await rig.complete(ask("t4", "long"))
            started = [e.data["worker"] for e in rig.logged("started")]
            assert started == ["3", "3", "3", "2"]
            (moved,) = rig.logged("moved")
            assert (moved.data["from_worker"], moved.data["to_worker"]) == ("3", "2")
            assert moved.data["reason"] == "quota: five_hour at 96% >= QUOTA_MOVE_AT 0.95"
            await rig.complete(ask("t5", "long"))  # it stays on its new account
            assert [e.data["worker"] for e in rig.logged("started")][-1] == "2"
            (quota,) = [e for e in rig.logged("quota") if e.data["status"] == "allowed_warning"]
            assert quota.data["worker"] == "3"
        finally:
            await rig.stop()


async def test_below_move_at_a_conversation_keeps_its_account() -> None:
    with short_state_dir() as root:
        rig = await scenario_rig(root, "headroom")
        try:
            await rig.complete(ask("t1", "c"))
            rig.scheduler.note_quota("3", windows(0.94, 3 * HOUR, 0.25, 5 * 24 * HOUR))
            await rig.complete(ask("t2", "c"))
            assert [e.data["worker"] for e in rig.logged("started")] == ["3", "3"]
            assert rig.logged("moved") == []
        finally:
            await rig.stop()


async def test_a_refusal_rests_until_the_reported_reset_and_the_conversation_moves() -> None:
    with short_state_dir() as root:
        rig = await scenario_rig(root, "headroom")
        try:
            await rig.complete(ask("t1", "c"))
            resets_at = int(time.time()) + 5 * 24 * HOUR  # a weekly window: five days away
            refused = pb.RateLimitStatus(
                status="rejected",
                resets_at=resets_at,
                limit_type="seven_day",
                windows=[
                    pb.QuotaWindow(
                        window="seven_day",
                        status="rejected",
                        utilization=1.0,
                        utilization_known=True,
                        resets_at=resets_at,
                    )
                ],
            )
            error = pb.Error(code=pb.RATE_LIMITED, message="limit", retry_after_ms=3000)
            rig.workers["3"].script = [pb.Event(rate_limit=refused), pb.Event(error=error)]
            events = await rig.complete(ask("t2", "c"))
            assert events[-1].HasField("finish")  # retried on another account
            cooling = rig.scheduler.cooldowns.of("3")
            assert cooling.until == pytest.approx(resets_at, abs=1)  # not bounded to 6 h
            assert cooling.basis == "reset"
            (start,) = rig.logged("cooldown_start")
            assert start.data["basis"] == "reset"
            assert start.data["until"] == pytest.approx(resets_at, abs=1)
            info = next(
                w
                for w in (
                    await rig.admin.ListWorkers(controller_pb2.ListWorkersRequest(), None)
                ).workers
                if w.name == "3"
            )
            assert (info.state, info.cooling_until, info.cooling_basis) == (
                "cooling",
                resets_at,
                "reset",
            )
        finally:
            await rig.stop()


async def test_windows_show_in_list_workers_and_metrics_and_survive_a_restart() -> None:
    with short_state_dir() as root:
        rig = await scenario_rig(root, "headroom")
        try:
            listed = await rig.admin.ListWorkers(controller_pb2.ListWorkersRequest(), None)
            info = next(w for w in listed.workers if w.name == "1")
            assert [q.window for q in info.quota] == ["five_hour", "seven_day"]
            assert [q.utilization for q in info.quota] == pytest.approx([0.70, 0.40])
            assert info.quota_status == "allowed"
        finally:
            await rig.stop()
        again = await Rig.start(Path(root), {"1": "cli", "2": "cli", "3": "cli"})
        try:
            listed = await again.admin.ListWorkers(controller_pb2.ListWorkersRequest(), None)
            by_name = {w.name: w for w in listed.workers}
            for name, (five, _, seven, _) in SCENARIO.items():
                got = {q.window: q.utilization for q in by_name[name].quota}
                assert got == {"five_hour": pytest.approx(five), "seven_day": pytest.approx(seven)}
            # The restored windows route as the old ones did.
            for worker in again.workers.values():
                worker.script = ANSWER
            assert await new_conversations(again, 1) == ["3"]
        finally:
            await again.stop()


async def test_a_refusal_still_ahead_rests_again_after_a_restart() -> None:
    with short_state_dir() as root:
        rig = await scenario_rig(root, "headroom")
        resets_at = int(time.time()) + 2 * 24 * HOUR
        try:
            refused = pb.QuotaWindow(
                window="seven_day",
                status="rejected",
                utilization=1.0,
                utilization_known=True,
                resets_at=resets_at,
            )
            rig.scheduler.note_quota("2", pb.RateLimitStatus(status="rejected", windows=[refused]))
        finally:
            await rig.stop()
        again = await Rig.start(Path(root), {"1": "cli", "2": "cli", "3": "cli"})
        try:
            assert again.scheduler.cooldowns.of("2").until == pytest.approx(resets_at, abs=1)
            assert again.scheduler.cooldowns.of("2").basis == "reset"
        finally:
            await again.stop()


@pytest.fixture
async def api_key_rig() -> AsyncIterator[Rig]:
    # As in production the controller holds no credential: the workerd's Status says api_key.
    specs = [WorkerSpec(name="k", mode="api", max_concurrent=10)]
    with short_state_dir() as root:
        rig = await Rig.start(
            Path(root), {}, specs=specs, rate_limits=dict(DEFAULT_LIMITS), queue_timeout_ms=30_000
        )
        assert rig.scheduler.limiter.paced("k", "sonnet")  # until the worker says otherwise
        rig.workers["k"].status.credential = "api_key"
        await rig.poll()
        rig.workers["k"].script = ANSWER
        try:
            yield rig
        finally:
            await rig.stop()


async def test_an_api_key_worker_serves_a_burst_of_200_without_proxy_pacing(
    api_key_rig: Rig,
) -> None:
    requests = [ask(f"b{n}", f"burst-{n}") for n in range(200)]
    clients = asyncio.Semaphore(10)  # a load test at concurrency 10

    async def one(request: pb.ChatRequest) -> list[pb.Event]:
        async with clients:
            return await api_key_rig.complete(request)

    started = time.monotonic()
    answers = await asyncio.gather(*(one(r) for r in requests))
    elapsed = time.monotonic() - started
    assert all(a[-1].HasField("finish") for a in answers)
    assert len(api_key_rig.workers["k"].runs) == 200
    # The built-in pace (57 sonnet requests a minute) would hold 143 of them for a minute.
    assert not [e for e in api_key_rig.logged("queued") if e.data["reason"] == "rate_limit"]
    assert api_key_rig.scheduler.limiter.paced("k", "sonnet") is False
    assert elapsed < 30


async def test_rate_limits_stays_an_explicit_override_for_api_keys() -> None:
    specs = [WorkerSpec(name="k", mode="api", api_key="sk-ant-api03-test")]
    limit = DEFAULT_LIMITS["sonnet"]
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {}, specs=specs, api_key_rate_limits={"sonnet": limit})
        try:
            assert rig.scheduler.limiter.paced("k", "sonnet")
            assert not rig.scheduler.limiter.paced("k", "opus")
        finally:
            await rig.stop()


async def test_oauth_workers_keep_the_built_in_pace() -> None:
    specs = [
        WorkerSpec(name="c", mode="cli", token="sk-ant-oat01-x"),
        WorkerSpec(name="o", mode="api", token="sk-ant-oat01-y"),
    ]
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {}, specs=specs)
        try:
            for name in ("c", "o"):
                assert rig.scheduler.limiter.limit_of(name, "sonnet") == DEFAULT_LIMITS["sonnet"]
            listed = await rig.admin.ListWorkers(controller_pb2.ListWorkersRequest(), None)
            assert {w.name: w.credential for w in listed.workers} == {"c": "oauth", "o": "oauth"}
        finally:
            await rig.stop()
