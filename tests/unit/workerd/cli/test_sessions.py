"""workerd/cli/sessions.py: matching a request to a process, reuse or rebuild, eviction."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workerd.anthropic.content import Turn
from workerd.cli.invocation import Signature
from workerd.cli.sessions import (
    COLD,
    LIVE,
    WARM,
    PoolLimits,
    SessionPool,
    Slot,
    extends,
)
from workerd.cli.states import ChildState

SIG = Signature(
    bin_path="/bin/claude",
    mode="cli",
    model="sonnet",
    flags=("-p",),
    system_flag="--system-prompt-file",
    system_prompt="be brief",
)
OTHER = replace(SIG, model="opus")


def user(text: str) -> Turn:
    return Turn("user", [{"type": "text", "text": text}])


def assistant(text: str) -> Turn:
    return Turn("assistant", [{"type": "text", "text": text}])


def pool(
    warm_processes: int = 2,
    max_idle: int = 4,
    warm_max_age_s: float = 600.0,
    conversation_idle_s: float = 300.0,
    max_age_s: float = 1800.0,
    tool_result_timeout_s: float = 600.0,
) -> SessionPool:
    limits = PoolLimits(
        warm_processes,
        max_idle,
        warm_max_age_s,
        conversation_idle_s,
        max_age_s,
        tool_result_timeout_s,
    )
    return SessionPool(limits)


def add(
    p: SessionPool,
    pid: int,
    state: ChildState,
    sig: Signature = SIG,
    *,
    born: float = 0.0,
    since: float = 0.0,
    key: str = "",
    held: list[Turn] | None = None,
) -> Slot:
    slot = Slot(pid, sig, state, born=born, since=since, key=key, held=held or [])
    p.add(slot)
    return slot


def parked(
    p: SessionPool, pid: int, key: str, held: list[Turn], born: float = 0.0, since: float = 0.0
) -> Slot:
    return add(p, pid, ChildState.PARKED, key=key, held=held, born=born, since=since)


HELD = [user("hi"), assistant("hello")]
NEXT = [*HELD, user("how are you?")]


def test_signature_key_is_stable_and_distinguishes() -> None:
    assert SIG.key == replace(SIG).key
    assert len(SIG.key) == 12
    assert SIG.key != OTHER.key
    assert SIG.key != replace(SIG, system_prompt="be long").key
    assert SIG.argv("/tmp/s.txt") == ["/bin/claude", "-p", "--system-prompt-file", "/tmp/s.txt"]


def test_extends_needs_the_exact_prefix_and_a_new_user_turn() -> None:
    assert extends(NEXT, HELD)
    assert not extends(HELD, HELD)  # nothing new
    assert not extends([user("hi"), assistant("HELLO"), user("x")], HELD)  # edited
    assert not extends(NEXT, [])
    assert not extends([*HELD, assistant("more")], HELD)


def test_first_turn_takes_a_warm_process_of_its_signature() -> None:
    p = pool()
    add(p, 1, ChildState.READY, OTHER)
    warm = add(p, 2, ChildState.READY)
    plan = p.plan(SIG, "k", [user("hi")], fits=True, now=1.0)
    assert (plan.served, plan.slot, plan.rebuild_reason) == (WARM, warm, "")
    assert plan.turns == [user("hi")]


def test_no_warm_process_means_cold() -> None:
    p = pool()
    add(p, 1, ChildState.READY, OTHER)
    plan = p.plan(SIG, "k", [user("hi")], fits=True, now=1.0)
    assert (plan.served, plan.slot) == (COLD, None)


def test_a_request_claims_the_oldest_start_not_yet_claimed() -> None:
    p = pool()
    add(p, 1, ChildState.STARTING, OTHER)
    newer = add(p, 2, ChildState.STARTING, born=2.0)
    older = add(p, 3, ChildState.STARTING, born=1.0)
    plan = p.plan(SIG, "k", [user("hi")], fits=True, now=3.0)
    assert (plan.served, plan.slot) == (WARM, older)  # the furthest along
    older.claimed = True
    assert p.plan(SIG, "k2", [user("hi")], fits=True, now=3.0).slot is newer
    newer.claimed = True
    assert p.plan(SIG, "k3", [user("hi")], fits=True, now=3.0).served == COLD
    assert p.warm() == [p.get(1)]  # claimed starts are no longer warm
    p.take(older, "k", 4.0)
    assert (older.state, older.claimed) == (ChildState.RUNNING, False)


def test_demand_raises_the_target_within_the_ceiling() -> None:
    p = pool(warm_processes=1, max_idle=100)
    p.learn(SIG)
    for n in range(8):
        p.arrive(SIG, 10.0 + n * 0.1)  # a burst of eight
    assert p.warm_targets(11.0) == {SIG.key: 8}
    assert p.warm_wanted(11.0) == [SIG] * 8
    p.ceiling = 5  # what the memory budget allows
    assert p.warm_targets(11.0) == {SIG.key: 5}
    add(p, 1, ChildState.READY)
    add(p, 2, ChildState.STARTING)
    assert p.warm_wanted(11.0) == [SIG] * 3


def test_warm_processes_beyond_the_target_go_when_demand_stops() -> None:
    p = pool(warm_processes=1, max_idle=100)  # warm_idle_s 60
    p.learn(SIG)
    for _ in range(4):
        p.arrive(SIG, 100.0)
    slots = [add(p, pid, ChildState.READY, since=101.0 + pid) for pid in range(4)]
    assert p.surplus(150.0) == []  # the burst is remembered: all four are wanted
    assert p.surplus(160.5) == slots[:3]  # 60 s without a new conversation: back to the floor
    assert p.warm_targets(160.5) == {SIG.key: 1}


def test_a_surplus_waits_for_its_own_idle_time_while_demand_goes_on() -> None:
    p = pool(warm_processes=1, max_idle=100)
    p.learn(SIG)
    for _ in range(4):
        p.arrive(SIG, 0.0)
    p.arrive(SIG, 59.0)  # still arriving, one at a time
    old = add(p, 1, ChildState.READY, since=1.0)
    add(p, 2, ChildState.READY, since=58.0)
    add(p, 3, ChildState.READY, since=58.5)
    assert p.warm_targets(61.0) == {SIG.key: 1}  # the burst of four is forgotten
    assert p.surplus(61.0) == [old]  # only the one idle 60 s goes yet


def test_the_oldest_warm_process_goes_first() -> None:
    p = pool()
    add(p, 1, ChildState.READY, born=5.0)
    older = add(p, 2, ChildState.READY, born=1.0)
    assert p.plan(SIG, "k", [user("hi")], fits=True, now=9.0).slot is older


def test_next_turn_continues_the_parked_process_with_only_the_new_turn() -> None:
    p = pool()
    slot = parked(p, 7, "conv", HELD)
    add(p, 8, ChildState.READY)
    plan = p.plan(SIG, "conv", NEXT, fits=True, now=1.0)
    assert (plan.served, plan.slot, plan.rebuild_reason) == (LIVE, slot, "")
    assert plan.turns == [user("how are you?")]


def test_another_conversation_never_takes_a_parked_process() -> None:
    p = pool()
    parked(p, 7, "conv", HELD)
    plan = p.plan(SIG, "other", NEXT, fits=True, now=1.0)
    assert (plan.served, plan.rebuild_reason) == (COLD, "unknown")


def test_edited_history_is_rebuilt_in_a_warm_process() -> None:
    p = pool()
    parked(p, 7, "conv", HELD)
    warm = add(p, 8, ChildState.READY)
    edited = [user("hi"), assistant("hello!"), user("how are you?")]
    plan = p.plan(SIG, "conv", edited, fits=True, now=1.0)
    assert (plan.served, plan.slot, plan.rebuild_reason) == (WARM, warm, "edited")
    assert plan.turns == edited  # the whole conversation is written


def test_another_signature_is_a_rebuild() -> None:
    p = pool()
    parked(p, 7, "conv", HELD)
    plan = p.plan(OTHER, "conv", NEXT, fits=True, now=1.0)
    assert (plan.served, plan.rebuild_reason) == (COLD, "signature")


def test_a_conversation_over_the_budget_is_rebuilt_cut() -> None:
    p = pool()
    parked(p, 7, "conv", HELD)
    assert p.plan(SIG, "conv", NEXT, fits=False, now=1.0).rebuild_reason == "budget"


def test_an_idle_process_past_the_age_limit_is_not_continued() -> None:
    p = pool(max_age_s=100.0)
    parked(p, 7, "conv", HELD, born=0.0)
    assert p.plan(SIG, "conv", NEXT, fits=True, now=101.0).rebuild_reason == "expired"


def test_the_longest_matching_held_conversation_wins() -> None:
    p = pool()
    parked(p, 1, "conv", [user("hi"), assistant("x")])  # another branch under the same key
    best = parked(p, 2, "conv", HELD)
    assert p.plan(SIG, "conv", NEXT, fits=True, now=1.0).slot is best


def test_a_process_that_went_remembers_why_for_its_conversation() -> None:
    p = pool()
    for pid, reason in ((1, "failed"), (2, "evicted"), (3, "expired"), (4, "gone")):
        parked(p, pid, f"k{pid}", HELD)
        p.remove(pid, reason)
        assert p.plan(SIG, f"k{pid}", NEXT, fits=True, now=1.0).rebuild_reason == reason
    assert p.plan(SIG, "never-seen", NEXT, fits=True, now=1.0).rebuild_reason == "unknown"


def test_with_pooling_off_nothing_counts_as_a_rebuild() -> None:
    p = pool(max_idle=0)
    p.remove(1, "evicted")
    assert p.plan(SIG, "k", NEXT, fits=True, now=1.0).rebuild_reason == ""


def test_a_first_turn_has_no_rebuild_reason() -> None:
    p = pool()
    p.remove(99, "failed")
    assert p.plan(SIG, "k", [user("hi")], fits=True, now=1.0).rebuild_reason == ""


def test_take_then_park_holds_the_conversation() -> None:
    p = pool()
    slot = add(p, 1, ChildState.READY)
    p.take(slot, "conv", now=2.0)
    assert (slot.state, slot.key, slot.since) == (ChildState.RUNNING, "conv", 2.0)
    assert p.park(1, HELD, now=3.0) == []
    assert (slot.state, slot.held, slot.since) == (ChildState.PARKED, HELD, 3.0)


def test_parking_supersedes_older_processes_of_the_same_conversation() -> None:
    p = pool()
    old = parked(p, 1, "conv", [user("hi"), assistant("x")])
    add(p, 2, ChildState.RUNNING, key="conv")
    assert p.park(2, [*NEXT, assistant("fine")], now=5.0) == [old]


def test_warm_pool_follows_the_most_recent_signatures() -> None:
    p = pool(warm_processes=2)
    assert p.warm_wanted(0.0) == []  # nothing learned yet
    p.learn(SIG)
    assert p.warm_wanted(0.0) == [SIG, SIG]  # one signature: both warm processes are its
    p.learn(OTHER)
    assert p.warm_wanted(0.0) == [OTHER, SIG]  # the most recent first, one each
    add(p, 1, ChildState.STARTING, OTHER)
    add(p, 2, ChildState.READY)
    assert p.warm_wanted(0.0) == []


def test_a_third_signature_pushes_out_the_oldest() -> None:
    p = pool(warm_processes=2)
    third = replace(SIG, system_prompt="other")
    for sig in (SIG, OTHER, third):
        p.learn(sig)
    assert p.warm_wanted(0.0) == [third, OTHER]


def test_a_failed_signature_falls_back_to_cold_for_a_while() -> None:
    p = pool(warm_processes=1, warm_max_age_s=60.0)
    p.learn(SIG)
    assert p.fall_back(SIG, now=10.0) is True
    assert p.fall_back(SIG, now=11.0) is False  # already falling back: said once
    assert p.warm_wanted(20.0) == []
    assert p.fallbacks(20.0) == [SIG.key]
    assert p.warm_wanted(71.0) == [SIG]  # after WARM_MAX_AGE_MS warm processes are tried again
    assert p.fallbacks(71.0) == []


def test_no_warm_processes_when_max_idle_is_zero() -> None:
    p = pool(warm_processes=2, max_idle=0)
    p.learn(SIG)
    assert p.warm_wanted(0.0) == []


def test_warm_and_conversation_limits() -> None:
    p = pool(warm_max_age_s=600.0, conversation_idle_s=300.0, max_age_s=1800.0)
    old_warm = add(p, 1, ChildState.READY, born=0.0)
    add(p, 2, ChildState.READY, born=500.0)
    quiet = parked(p, 3, "a", HELD, born=0.0, since=100.0)
    parked(p, 4, "b", HELD, born=500.0, since=500.0)
    ancient = parked(p, 5, "c", HELD, born=-1500.0, since=550.0)
    add(p, 6, ChildState.RUNNING, born=-9000.0)  # running: never the pool's to expire
    assert p.expired(now=601.0) == [
        (old_warm, "warm_age"),
        (quiet, "conversation_idle"),
        (ancient, "age"),
    ]


def test_over_capacity_evicts_parked_beyond_their_room_first() -> None:
    p = pool(warm_processes=2, max_idle=4)  # room for 2 parked
    add(p, 1, ChildState.READY, since=1.0)
    a = parked(p, 2, "a", HELD, since=2.0)
    parked(p, 3, "b", HELD, since=3.0)
    parked(p, 4, "c", HELD, since=4.0)
    assert p.over_capacity() == []
    add(p, 5, ChildState.READY, since=5.0)
    assert p.over_capacity() == [a]  # 3 parked > room of 2: the least recently used goes


def test_over_capacity_evicts_warm_when_parked_are_within_room() -> None:
    p = pool(warm_processes=1, max_idle=2)
    warm = add(p, 1, ChildState.READY, since=1.0)
    add(p, 2, ChildState.READY, since=2.0)
    parked(p, 3, "a", HELD, since=3.0)
    assert p.over_capacity() == [warm]


def test_parking_at_capacity_returns_what_must_go() -> None:
    p = pool(warm_processes=0, max_idle=2)
    a = parked(p, 1, "a", HELD, since=1.0)
    parked(p, 2, "b", HELD, since=2.0)
    add(p, 3, ChildState.RUNNING, key="c")
    assert p.park(3, HELD, now=9.0) == [a]


def test_room_for_warm_only_evicts_parked_beyond_their_room() -> None:
    p = pool(warm_processes=2, max_idle=3)  # room for 1 parked
    assert p.room_for_warm() == []
    a = parked(p, 1, "a", HELD, since=1.0)
    parked(p, 2, "b", HELD, since=2.0)
    add(p, 3, ChildState.READY, since=3.0)
    assert p.room_for_warm() == [a]
    p.remove(1, "evicted")
    add(p, 4, ChildState.READY, since=4.0)
    assert p.room_for_warm() is None  # full, and the one parked process is within its room


def test_remove_forgets_the_process() -> None:
    p = pool()
    slot = parked(p, 1, "a", HELD)
    assert p.get(1) is slot
    assert p.remove(1, "evicted") is slot
    assert p.get(1) is None and p.slots() == []
    assert p.remove(1, "evicted") is None


# --- a process waiting on the client's tool calls -------------------------------------------


def results(*ids: str, extra: str = "") -> Turn:
    blocks = [{"type": "tool_result", "tool_use_id": i, "content": "ok"} for i in ids]
    if extra:
        blocks.append({"type": "text", "text": extra})
    return Turn("user", blocks)


CALLED = [user("weather?"), Turn("assistant", [{"type": "tool_use", "id": "t1"}])]


def awaiting(p: SessionPool, pid: int, *ids: str, since: float = 0.0) -> Slot:
    slot = add(p, pid, ChildState.RUNNING, key="conv")
    p.park(pid, CALLED, now=since, awaiting=ids)
    return slot


def test_a_waiting_process_goes_on_with_exactly_its_results() -> None:
    p = pool()
    slot = awaiting(p, 1, "t1", "t2")
    assert slot.state is ChildState.AWAITING
    plan = p.plan(SIG, "conv", [*CALLED, results("t2", "t1")], fits=True, now=1.0)
    assert (plan.served, plan.slot) == (LIVE, slot)


@pytest.mark.parametrize(
    "new_turn",
    [results("t1"), results("t1", "t2", "t3"), results("t1", "t2", extra="and also")],
    ids=["missing", "unknown", "with text"],
)
def test_anything_else_rebuilds(new_turn: Turn) -> None:
    p = pool()
    awaiting(p, 1, "t1", "t2")
    plan = p.plan(SIG, "conv", [*CALLED, new_turn], fits=True, now=1.0)
    assert (plan.served, plan.rebuild_reason) == (COLD, "edited")


def test_waiting_processes_are_busy_not_idle() -> None:
    p = pool(warm_processes=0, max_idle=1)
    awaiting(p, 1, "t1")
    awaiting(p, 2, "t9")
    parked(p, 3, "other", HELD)
    assert p.over_capacity() == []  # the two waiting ones do not count against max_idle


def test_a_waiting_process_times_out() -> None:
    p = pool(tool_result_timeout_s=600.0)
    slot = awaiting(p, 1, "t1", since=0.0)
    assert p.expired(now=599.0) == []
    assert p.expired(now=601.0) == [(slot, "tool_timeout")]
