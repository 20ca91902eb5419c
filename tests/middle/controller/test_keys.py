"""Keys through the controller's real Admin service (over its socket), Scheduler and RequestRun,
with in-process fake workerds (tests/middle/inprocess.py): changes effective on the next request,
pools, budgets, per-minute limits, concurrency, isolation, restarts and the watch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.rpc import open_channel
from controller.services.conversations import ConversationsServicer
from protos import common_pb2 as pb
from protos import controller_pb2, controller_pb2_grpc, keys_pb2, worker_pb2
from tests.middle.inprocess import FakeWorker, Rig, short_state_dir

pytestmark = pytest.mark.middle

DEADLINE_S = 10.0


def answer(tokens: int = 15) -> list[pb.Event]:
    return [
        pb.Event(text=pb.TextDelta(text="ok")),
        pb.Event(usage=pb.Usage(input_tokens=tokens - 5, output_tokens=5)),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet")),
    ]


def ask(
    request_id: str, key_id: str = "", model: str = "sonnet", text: str = "hi"
) -> pb.ChatRequest:
    return pb.ChatRequest(
        request_id=request_id,
        model=model,
        source="ide",
        key_id=key_id,
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text=text)])],
    )


def error_of(events: list[pb.Event]) -> pb.Error | None:
    return next((e.error for e in events if e.HasField("error")), None)


def served_by(events: list[pb.Event]) -> str:
    return next(e.started.worker for e in events if e.HasField("started"))


class GatedWorker(FakeWorker):
    """Its runs wait for `gate` before they answer (a run that holds its slot)."""

    def __init__(self, name: str, mode: str = "cli") -> None:
        super().__init__(name, mode)
        self.gate = asyncio.Event()
        self.gate.set()
        self.script = answer()
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()

    async def Run(self, request: worker_pb2.RunRequest, context: Any) -> AsyncIterator[pb.Event]:
        self.runs.append(request)
        self.arrivals.put_nowait(request.chat.request_id)
        await self.gate.wait()
        for event in self.script:
            yield event


@asynccontextmanager
async def rig_at(root: Path, modes: dict[str, str], **overrides: Any) -> AsyncIterator[Rig]:
    rig = await Rig.start(root, modes, worker_class=GatedWorker, **overrides)
    rig.events.sinks.append(rig.accounting.observe)  # usage is persisted as the server does it
    await rig.serve_admin()
    try:
        yield rig
    finally:
        await rig.stop()


@pytest.fixture
def root() -> Iterator[Path]:
    with short_state_dir() as path:
        yield Path(path)


@pytest.fixture
async def rig(root: Path) -> AsyncIterator[Rig]:
    async with rig_at(root, {"c": "cli", "a": "api"}) as opened:
        yield opened


@asynccontextmanager
async def admin_of(rig: Rig) -> AsyncIterator[controller_pb2_grpc.AdminStub]:
    channel = open_channel(rig.config.paths.controller_socket)
    try:
        yield controller_pb2_grpc.AdminStub(channel)
    finally:
        await channel.close()


@pytest.fixture
async def admin(rig: Rig) -> AsyncIterator[controller_pb2_grpc.AdminStub]:
    async with admin_of(rig) as stub:
        yield stub


async def create(
    admin: Any, name: str, context: Any = "grpc", **fields: Any
) -> keys_pb2.CreateKeyResult:
    """Through a stub (the default), or straight to the servicer with `context`."""
    policy = fields.pop("policy", keys_pb2.KeyPolicy())
    request = keys_pb2.CreateKeyRequest(name=name, policy=policy, **fields)
    if context != "grpc":
        made: keys_pb2.CreateKeyResult = await admin.CreateKey(request, context)
        return made
    result: keys_pb2.CreateKeyResult = await admin.CreateKey(request, timeout=DEADLINE_S)
    return result


async def refused(call: Any, request: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, timeout=DEADLINE_S)
    return caught.value


# -- managing keys -----------------------------------------------------------------------------


async def test_create_answers_the_secret_once_and_lists_never_show_it(admin: Any) -> None:
    made = await create(admin, "alice", policy=keys_pb2.KeyPolicy(rpm=60))
    assert made.secret.startswith("sk-ccp-") and made.key.prefix == made.secret[:11]
    assert made.key.id.startswith("key_") and made.key.role == "client"
    assert list(made.key.policy.pools) == ["cli", "api"] and made.key.for_owner
    assert made.key.secret_sha256 == ""
    listed = await admin.ListKeys(keys_pb2.ListKeysRequest(), timeout=DEADLINE_S)
    assert [k.name for k in listed.keys] == ["alice"] and listed.keys[0].secret_sha256 == ""
    assert made.secret not in str(listed)


async def test_refusals_say_what_to_change(admin: Any) -> None:
    await create(admin, "alice")
    taken = await refused(admin.CreateKey, keys_pb2.CreateKeyRequest(name="alice"))
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS and "alice" in (taken.details() or "")
    bad = await refused(admin.CreateKey, keys_pb2.CreateKeyRequest(name="no spaces"))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    other = keys_pb2.CreateKeyRequest(
        name="bob", for_another_person=True, policy=keys_pb2.KeyPolicy(pools=["cli"])
    )
    terms = await refused(admin.CreateKey, other)
    assert terms.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Account terms" in (terms.details() or "")
    missing = await refused(admin.RevokeKey, keys_pb2.KeyRef(name="carol"))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert missing.details() == "no key named 'carol'"
    clear = keys_pb2.UpdateKeyRequest(key=keys_pb2.KeyRef(name="alice"), clear=["speed"])
    unknown_field = await refused(admin.UpdateKey, clear)
    assert unknown_field.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_create_update_and_revoke_take_effect_on_the_next_request(
    rig: Rig, admin: Any
) -> None:
    made = await create(admin, "ci", policy=keys_pb2.KeyPolicy(models=["haiku"]))
    denied = error_of(await rig.complete(ask("r1", made.key.id, "claude-sonnet-5")))
    assert denied is not None and denied.code == pb.PERMISSION_DENIED
    assert "may not use sonnet models (its policy `models` allows: haiku)" in denied.message
    allow = keys_pb2.UpdateKeyRequest(key=keys_pb2.KeyRef(id=made.key.id), clear=["models"])
    updated = await admin.UpdateKey(allow, timeout=DEADLINE_S)
    assert not updated.policy.models
    assert error_of(await rig.complete(ask("r2", made.key.id))) is None
    renamed = keys_pb2.UpdateKeyRequest(key=keys_pb2.KeyRef(name="ci"), new_name="ci-main")
    assert (await admin.UpdateKey(renamed, timeout=DEADLINE_S)).name == "ci-main"
    revoked = await admin.RevokeKey(keys_pb2.KeyRef(name="ci-main"), timeout=DEADLINE_S)
    assert revoked.revoked_at > 0
    gone = error_of(await rig.complete(ask("r3", made.key.id)))
    assert gone is not None and gone.code == pb.PERMISSION_DENIED
    assert "the key 'ci-main' is revoked" in gone.message
    assert [e.data["changed"] for e in rig.logged("key_updated")] == ["models", "name"]
    assert [e.data["name"] for e in rig.logged("key_revoked")] == ["ci-main"]
    assert len(rig.workers["c"].runs) == 1  # refusals never reach a worker


# -- pools ---------------------------------------------------------------------------------------


async def test_a_key_limited_to_api_is_never_routed_to_a_cli_worker(rig: Rig, admin: Any) -> None:
    api = await create(admin, "colleague", for_another_person=True)  # api only, by default
    cli = await create(admin, "mine", policy=keys_pb2.KeyPolicy(pools=["cli"]))
    assert served_by(await rig.complete(ask("r0"))) == "c"  # overflow off: cli serves
    for n in range(4):
        assert served_by(await rig.complete(ask(f"a{n}", api.key.id, text=f"t{n}"))) == "a"
        assert served_by(await rig.complete(ask(f"c{n}", cli.key.id, text=f"t{n}"))) == "c"
    assert all(run.chat.key_id != api.key.id for run in rig.workers["c"].runs)
    rig.workers["a"].script = [pb.Event(error=pb.Error(code=pb.UPSTREAM_OVERLOADED))]
    failed = error_of(await rig.complete(ask("a9", api.key.id)))
    assert failed is not None and failed.code == pb.UPSTREAM_OVERLOADED  # no cli worker tried
    assert rig.logged("retry") == []


async def test_a_pool_with_no_worker_is_denied_naming_the_pools(root: Path) -> None:
    async with rig_at(root, {"c": "cli"}) as rig, admin_of(rig) as admin:
        api = await create(admin, "colleague", for_another_person=True)
        denied = error_of(await rig.complete(ask("r1", api.key.id)))
        assert denied is not None and denied.code == pb.PERMISSION_DENIED
        assert "may use the pools api only" in denied.message
        assert rig.workers["c"].runs == []


# -- budgets and limits --------------------------------------------------------------------------


async def test_a_spent_budget_is_refused_after_the_run_that_spent_it(rig: Rig, admin: Any) -> None:
    made = await create(admin, "ci", policy=keys_pb2.KeyPolicy(daily_tokens=20))
    first = await rig.complete(ask("r1", made.key.id))
    assert error_of(first) is None  # 15 of 20
    second = await rig.complete(ask("r2", made.key.id))
    assert error_of(second) is None and any(e.HasField("finish") for e in second)  # to 30
    third = error_of(await rig.complete(ask("r3", made.key.id)))
    assert third is not None and third.code == pb.QUOTA_EXHAUSTED
    assert "spent its daily token budget (20 tokens: 30 used); it renews at" in third.message
    assert 0 < third.retry_after_ms <= 86_400_000
    assert len(rig.workers["c"].runs) == 2
    report = await admin.GetKeyUsage(keys_pb2.KeyRef(name="ci"), timeout=DEADLINE_S)
    assert (report.key.today.requests, report.key.today.errors) == (3, 1)
    (budget,) = report.budgets
    assert (budget.period, budget.limit, budget.used, budget.remaining) == ("day", 20, 30, 0)
    assert [d.usage.requests for d in report.days] == [3]


async def test_over_its_rpm_a_key_gets_the_limit_figures_and_no_other_worker(
    rig: Rig, admin: Any
) -> None:
    made = await create(admin, "ci", policy=keys_pb2.KeyPolicy(rpm=1, tpm=100_000))
    first = await rig.complete(ask("r1", made.key.id))
    started = next(e.started for e in first if e.HasField("started"))
    assert (started.key_limits.limit_requests, started.key_limits.remaining_requests) == (1, 0)
    assert started.key_limits.limit_tokens == 100_000
    second = error_of(await rig.complete(ask("r2", made.key.id)))
    assert second is not None and second.code == pb.RATE_LIMITED
    assert second.key_limits.limit_requests == 1 and second.key_limits.remaining_requests == 0
    assert 0 < second.retry_after_ms <= 60_000
    assert rig.logged("retry") == [] and len(rig.workers["c"].runs) == 1
    assert error_of(await rig.complete(ask("r3"))) is None  # the bootstrap token: unaffected


async def test_a_key_at_its_concurrency_cap_waits_while_others_run(rig: Rig, admin: Any) -> None:
    made = await create(admin, "ci", policy=keys_pb2.KeyPolicy(max_concurrent=1))
    worker = rig.workers["c"]
    assert isinstance(worker, GatedWorker)
    worker.gate.clear()
    first = asyncio.create_task(rig.complete(ask("r1", made.key.id)))
    second = asyncio.create_task(rig.complete(ask("r2", made.key.id, text="other")))
    other = asyncio.create_task(rig.complete(ask("r3", text="third")))
    async with asyncio.timeout(DEADLINE_S):
        arrived = {await worker.arrivals.get(), await worker.arrivals.get()}
    await asyncio.sleep(0.05)  # r2 had every chance to start by now
    assert arrived == {"r1", "r3"} and len(worker.runs) == 2  # r2 waits its turn
    assert [e.data["request_id"] for e in rig.logged("queued")] == ["r2"]
    stats = await rig.admin.GetStats(controller_pb2.GetStatsRequest(), None)
    (figures,) = stats.keys
    assert (figures.name, figures.running, figures.queued) == ("ci", 1, 1)
    worker.gate.set()
    results = await asyncio.gather(first, second, other)
    assert all(error_of(events) is None for events in results)


# -- isolation -----------------------------------------------------------------------------------


async def test_two_keys_with_the_same_history_never_share_a_conversation(
    rig: Rig, admin: Any
) -> None:
    one, two = await create(admin, "one"), await create(admin, "two")
    for request_id, key_id in (("r1", one.key.id), ("r2", one.key.id), ("r3", two.key.id)):
        await rig.complete(ask(request_id, key_id, text="the same opening"))
    await rig.complete(ask("r4", text="the same opening"))
    keys = [run.conversation_key for run in rig.workers["c"].runs]
    assert keys[0] == keys[1]  # one key's conversation follows itself
    assert len({keys[0], keys[2], keys[3]}) == 3


class AbortContext:
    async def abort(self, code: grpc.StatusCode, message: str) -> None:
        raise LookupError(code, message)


async def test_a_stored_response_is_invisible_to_another_key(rig: Rig) -> None:
    conversations = ConversationsServicer(rig.accounting)
    stored = controller_pb2.StoredResponse(id="resp_1", owner="key_a", body_json='{"id": 1}')
    await conversations.PutResponse(stored, AbortContext())
    mine = controller_pb2.GetResponseRequest(id="resp_1", owner="key_a")
    assert (await conversations.GetResponse(mine, AbortContext())).body_json == '{"id": 1}'
    answers = []
    for request in (
        controller_pb2.GetResponseRequest(id="resp_1", owner="key_b"),
        controller_pb2.GetResponseRequest(id="resp_2", owner="key_b"),
    ):
        with pytest.raises(LookupError) as caught:
            await conversations.GetResponse(request, AbortContext())
        code, message = caught.value.args
        answers.append((code, message.replace("resp_2", "resp_1")))
    assert answers[0] == answers[1] == (grpc.StatusCode.NOT_FOUND, "no stored response 'resp_1'")


# -- restarts, the watch and the figures ---------------------------------------------------------


async def test_keys_and_usage_survive_a_restart(root: Path) -> None:
    async with rig_at(root, {"c": "cli"}) as rig, admin_of(rig) as admin:
        made = await create(admin, "ci", policy=keys_pb2.KeyPolicy(daily_tokens=20))
        await create(admin, "gone")
        await admin.RevokeKey(keys_pb2.KeyRef(name="gone"), timeout=DEADLINE_S)
        await rig.complete(ask("r1", made.key.id))
        await rig.complete(ask("r2", made.key.id))  # 30 of 20: spent
    async with rig_at(root, {"c": "cli"}) as again, admin_of(again) as admin:
        listed = await admin.ListKeys(
            keys_pb2.ListKeysRequest(include_revoked=True), timeout=DEADLINE_S
        )
        assert sorted((k.name, k.revoked_at > 0) for k in listed.keys) == [
            ("ci", False),
            ("gone", True),
        ]
        ci = next(k for k in listed.keys if k.name == "ci")
        assert (ci.today.requests, ci.today.input_tokens, ci.today.output_tokens) == (2, 20, 10)
        assert ci.last_used_at > 0 and ci.policy.daily_tokens == 20
        spent = error_of(await again.complete(ask("r3", made.key.id)))
        assert spent is not None and spent.code == pb.QUOTA_EXHAUSTED


async def test_the_watch_sends_the_list_at_once_and_one_list_for_a_burst(
    rig: Rig, admin: Any
) -> None:
    await create(admin, "first")
    call = admin.WatchKeys(keys_pb2.WatchKeysRequest())
    try:
        first = await asyncio.wait_for(call.read(), DEADLINE_S)
        assert [k.name for k in first.keys] == ["first"] and len(first.keys[0].secret_sha256) == 64
        for n in range(40):  # made while the watcher does not read
            await create(admin, f"k{n}")
        await admin.RevokeKey(keys_pb2.KeyRef(name="first"), timeout=DEADLINE_S)
        lists = [await asyncio.wait_for(call.read(), DEADLINE_S)]
        while lists[-1].version < first.version + 41:
            lists.append(await asyncio.wait_for(call.read(), DEADLINE_S))
        assert len(lists) <= 10  # coalesced: never a list per change
        newest = lists[-1]
        assert len(newest.keys) == 40 and "first" not in {k.name for k in newest.keys}
    finally:
        call.cancel()


async def test_get_stats_and_the_key_figures(rig: Rig, admin: Any) -> None:
    made = await create(admin, "ci", policy=keys_pb2.KeyPolicy(weekly_tokens=1000, weight=2))
    await rig.complete(ask("r1", made.key.id))
    stats = await admin.GetStats(controller_pb2.GetStatsRequest(), timeout=DEADLINE_S)
    (figures,) = stats.keys
    assert (figures.id, figures.name, figures.role, figures.weight) == (
        made.key.id,
        "ci",
        "client",
        2.0,
    )
    assert (figures.today.requests, figures.this_week.requests) == (1, 1)
    assert figures.budgets[0].period == "week" and figures.budgets[0].used == 15
    assert figures.last_used_at > 0 and figures.running == 0


async def test_weights_1_and_2_get_turns_1_to_2_while_both_wait(root: Path) -> None:
    async with rig_at(root, {"c": "cli"}, max_concurrent=1) as rig, admin_of(rig) as admin:
        light = await create(admin, "light")
        heavy = await create(admin, "heavy", policy=keys_pb2.KeyPolicy(weight=2))
        worker = rig.workers["c"]
        assert isinstance(worker, GatedWorker)
        worker.gate.clear()
        feed = rig.events.subscribe()
        tasks = [asyncio.create_task(rig.complete(ask("hold", text="holds the slot")))]
        for n in range(6):
            for key, letter in ((light, "l"), (heavy, "h")):
                tasks.append(asyncio.create_task(rig.complete(ask(f"{letter}{n}", key.key.id))))
        async with asyncio.timeout(DEADLINE_S):
            queued = 0
            while queued < 12:
                queued += (await feed.get()).type == "queued"
        worker.gate.set()
        await asyncio.gather(*tasks)
        started = [e.data["request_id"] for e in rig.logged("started")]
        assert started[0] == "hold"
        turns = "".join(request_id[0] for request_id in started[1:])
        assert turns == "lhhlhhlhhlll"  # each turn: one of light, two of heavy, while both wait


async def test_changes_made_while_a_watcher_is_away_give_it_one_list(rig: Rig) -> None:
    watch = rig.admin.keys.watch()
    first = (await anext(watch)).version  # the list itself is sent at once, never kept
    for n in range(1000):  # 1,000 keys made in a row, the watcher busy elsewhere
        await create(rig.admin, f"k{n:04d}", context=None)
    newest = await asyncio.wait_for(anext(watch), DEADLINE_S)
    assert newest.version == first + 1000 and len(newest.keys) == 1000
    version = newest.version

    async def next_list() -> keys_pb2.KeyList:
        return await anext(watch)

    pending = asyncio.create_task(next_list())
    await asyncio.sleep(0.1)
    assert not pending.done()  # nothing changed since: no list
    await rig.admin.RevokeKey(keys_pb2.KeyRef(name="k0000"), None)
    after = await asyncio.wait_for(pending, DEADLINE_S)
    assert len(after.keys) == 999 and after.version == version + 1
    await watch.aclose()
