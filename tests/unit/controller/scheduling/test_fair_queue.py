"""controller/scheduling/fair_queue.py: per-source FIFO by priority, true round-robin over
sources, caps."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import pytest

from controller.scheduling.fair_queue import (
    PRIORITY_HIGH,
    PRIORITY_LOW,
    PRIORITY_NORMAL,
    FairQueue,
    QueueEntry,
    QueueFull,
)

Entry = QueueEntry[str]


def _entry(
    source: str, item: str = "", *, deadline: float = 100.0, priority: int = PRIORITY_NORMAL
) -> Entry:
    return QueueEntry(source, item or source, 0.0, deadline, priority)


def _queue(max_total: int = 1000, max_per_source: int = 1000) -> FairQueue[str]:
    return FairQueue(max_total, max_per_source)


def _push_all(queue: FairQueue[str], entries: Iterable[Entry]) -> None:
    for entry in entries:
        queue.push(entry)


def _any(entry: Entry) -> bool:
    return True


def _drain(queue: FairQueue[str], eligible: Callable[[Entry], bool] = _any) -> list[str]:
    served: list[str] = []
    while (entry := queue.select(eligible)) is not None:
        served.append(entry.item)
    return served


def _items(*entries: Entry | None) -> list[str | None]:
    return [entry.item if entry else None for entry in entries]


def _named(source: str, count: int) -> list[Entry]:
    return [_entry(source, f"{source}{n}") for n in range(1, count + 1)]


# -- basics ------------------------------------------------------------------------------------


def test_empty_queue() -> None:
    queue = _queue()
    assert len(queue) == 0
    assert queue.select(_any) is None
    assert queue.next_deadline() is None
    assert queue.expired(1e9) == []
    assert queue.depth_by_source() == {}
    assert list(queue) == []


def test_single_source_is_fifo() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 4))
    assert len(queue) == 4
    assert _drain(queue) == ["a1", "a2", "a3", "a4"]
    assert len(queue) == 0
    assert queue.depth_by_source() == {}


def test_select_returns_the_pushed_entry_object() -> None:
    queue = _queue()
    entry = _entry("a")
    queue.push(entry)
    assert queue.select(_any) is entry


# -- round-robin fairness ----------------------------------------------------------------------


def test_flooding_source_is_interleaved_with_small_sources() -> None:
    queue = _queue()
    _push_all(queue, _named("flood", 10))
    _push_all(queue, _named("b", 2))
    _push_all(queue, _named("c", 2))
    assert _drain(queue) == [
        "flood1",
        "b1",
        "c1",
        "flood2",
        "b2",
        "c2",
        *(f"flood{n}" for n in range(3, 11)),
    ]


def test_sources_pushed_interleaved_are_served_in_ring_order() -> None:
    queue = _queue()
    for n in range(1, 4):
        for source in ("a", "b", "c"):
            queue.push(_entry(source, f"{source}{n}"))
    assert _drain(queue) == ["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"]


def test_a_source_arriving_mid_way_gets_a_turn_before_the_served_sources_repeat() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 5))
    _push_all(queue, _named("b", 5))
    assert _items(queue.select(_any), queue.select(_any)) == ["a1", "b1"]
    queue.push(_entry("c", "c1"))
    served = _drain(queue)
    # One turn each for a, b and the newcomer c before anyone goes again, then a, b alternate.
    assert sorted(served[:3]) == ["a2", "b2", "c1"]
    assert served[3:] == ["a3", "b3", "a4", "b4", "a5", "b5"]


def test_a_source_that_empties_and_returns_rejoins_behind_the_others() -> None:
    queue = _queue()
    queue.push(_entry("a", "a1"))
    _push_all(queue, _named("b", 3))
    _push_all(queue, _named("c", 3))
    assert queue.select(_any) is not None  # a1: a is now empty and leaves the ring
    queue.push(_entry("a", "a2"))
    assert _drain(queue) == ["b1", "c1", "a2", "b2", "c2", "b3", "c3"]


def test_a_source_just_served_does_not_go_again_before_a_waiting_other_source() -> None:
    """The turn a source just had counts even when its queue emptied in between.

    `a` is served, then `a` and `b` both get work: `b` must be served next, otherwise `a`
    is served twice in a row while `b` waits (the module promises every other source with
    eligible work is served before the same source again, however the set of sources changes).
    """
    queue = _queue()
    queue.push(_entry("a", "a1"))
    assert queue.select(_any) is not None  # a1
    queue.push(_entry("a", "a2"))
    queue.push(_entry("b", "b1"))
    assert _drain(queue) == ["b1", "a2"]


def test_removing_a_sources_last_entry_drops_it_from_the_ring() -> None:
    queue = _queue()
    a1 = _entry("a", "a1")
    queue.push(a1)
    _push_all(queue, _named("b", 2))
    assert queue.remove(a1)
    assert queue.depth_by_source() == {"b": 2}
    assert _drain(queue) == ["b1", "b2"]


# -- priority ----------------------------------------------------------------------------------


def test_priority_orders_within_a_source_and_fifo_within_a_priority() -> None:
    queue = _queue()
    _push_all(
        queue,
        [
            _entry("a", "low1", priority=PRIORITY_LOW),
            _entry("a", "normal1", priority=PRIORITY_NORMAL),
            _entry("a", "high1", priority=PRIORITY_HIGH),
            _entry("a", "normal2", priority=PRIORITY_NORMAL),
            _entry("a", "low2", priority=PRIORITY_LOW),
            _entry("a", "high2", priority=PRIORITY_HIGH),
        ],
    )
    assert _drain(queue) == ["high1", "high2", "normal1", "normal2", "low1", "low2"]


def test_priority_constants_order_high_first() -> None:
    assert PRIORITY_HIGH < PRIORITY_NORMAL < PRIORITY_LOW
    assert _entry("a").priority == PRIORITY_NORMAL


def test_priority_does_not_jump_across_sources() -> None:
    """A high-priority entry of one source does not take another source's turn."""
    queue = _queue()
    _push_all(queue, _named("a", 2))
    queue.push(_entry("b", "b-low", priority=PRIORITY_LOW))
    queue.push(_entry("a", "a-high", priority=PRIORITY_HIGH))
    assert _drain(queue) == ["a-high", "b-low", "a1", "a2"]


def test_entries_get_increasing_sequence_numbers() -> None:
    first, second = _entry("a"), _entry("a")
    assert first.seq < second.seq
    assert first.order < second.order
    assert _entry("a", priority=PRIORITY_HIGH).order < first.order


# -- caps --------------------------------------------------------------------------------------


def test_total_cap_raises_queue_full_with_total_scope() -> None:
    queue = _queue(max_total=3, max_per_source=10)
    _push_all(queue, [_entry("a"), _entry("b"), _entry("c")])
    with pytest.raises(QueueFull) as info:
        queue.push(_entry("d"))
    assert info.value.scope == "total"
    assert "3" in str(info.value)
    assert len(queue) == 3
    assert queue.depth_by_source() == {"a": 1, "b": 1, "c": 1}  # no empty "d" left behind


def test_per_source_cap_raises_queue_full_with_source_scope() -> None:
    queue = _queue(max_total=10, max_per_source=2)
    _push_all(queue, _named("a", 2))
    with pytest.raises(QueueFull) as info:
        queue.push(_entry("a", "a3"))
    assert info.value.scope == "source"
    assert "2" in str(info.value)
    queue.push(_entry("b", "b1"))  # other sources still have room
    assert queue.depth_by_source() == {"a": 2, "b": 1}
    assert _drain(queue) == ["a1", "b1", "a2"]


def test_total_scope_wins_when_both_caps_are_reached() -> None:
    queue = _queue(max_total=2, max_per_source=2)
    _push_all(queue, _named("a", 2))
    with pytest.raises(QueueFull) as info:
        queue.push(_entry("a", "a3"))
    assert info.value.scope == "total"


def test_room_comes_back_after_select_or_remove() -> None:
    queue = _queue(max_total=2, max_per_source=2)
    a1, a2 = _named("a", 2)
    _push_all(queue, [a1, a2])
    assert queue.select(_any) is a1
    queue.push(_entry("a", "a3"))
    assert queue.remove(a2)
    queue.push(_entry("a", "a4"))
    assert _drain(queue) == ["a3", "a4"]


def test_zero_caps_refuse_every_push() -> None:
    with pytest.raises(QueueFull):
        _queue(max_total=0).push(_entry("a"))
    with pytest.raises(QueueFull):
        _queue(max_per_source=0).push(_entry("a"))


# -- remove ------------------------------------------------------------------------------------


def test_remove_takes_out_one_entry_and_reports_absence() -> None:
    queue = _queue()
    a1, a2, a3 = _named("a", 3)
    _push_all(queue, [a1, a2, a3])
    assert queue.remove(a2)
    assert not queue.remove(a2)
    assert len(queue) == 2
    assert _drain(queue) == ["a1", "a3"]
    assert not queue.remove(a1)  # already served
    assert not queue.remove(_entry("never-pushed"))


def test_remove_uses_identity_not_equal_fields() -> None:
    queue = _queue()
    pushed = QueueEntry("a", "x", 0.0, 1.0, PRIORITY_NORMAL, seq=7)
    twin = QueueEntry("a", "x", 0.0, 1.0, PRIORITY_NORMAL, seq=7)
    queue.push(pushed)
    assert not queue.remove(twin)
    assert queue.remove(pushed)
    assert len(queue) == 0


# -- eligibility -------------------------------------------------------------------------------


def test_select_skips_ineligible_entries_within_a_source() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 3))
    entry = queue.select(lambda e: e.item != "a1")
    assert entry is not None and entry.item == "a2"
    assert [e.item for e in queue] == ["a1", "a3"]  # a1 keeps its place


def test_ineligible_source_keeps_its_place_and_others_are_served() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 2))
    _push_all(queue, _named("b", 2))
    _push_all(queue, _named("c", 2))
    blocked = {"a"}

    def eligible(entry: Entry) -> bool:
        return entry.source not in blocked

    assert _drain(queue, eligible) == ["b1", "c1", "b2", "c2"]
    assert queue.depth_by_source() == {"a": 2}
    blocked.clear()
    assert _drain(queue, eligible) == ["a1", "a2"]


def test_blocked_source_is_first_once_unblocked() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 2))
    _push_all(queue, _named("b", 3))
    entry = queue.select(lambda e: e.source == "b")
    assert entry is not None and entry.item == "b1"
    # a was skipped, not served: it still has the front of the ring.
    assert _drain(queue) == ["a1", "b2", "a2", "b3"]


def test_select_returns_none_and_keeps_everything_when_nothing_is_eligible() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 2))
    _push_all(queue, _named("b", 1))
    assert queue.select(lambda e: False) is None
    assert len(queue) == 3
    assert queue.depth_by_source() == {"a": 2, "b": 1}


def test_eligible_is_asked_in_fair_order_and_stops_at_the_first_yes() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 2))
    _push_all(queue, _named("b", 2))
    asked: list[str] = []

    def eligible(entry: Entry) -> bool:
        asked.append(entry.item)
        return entry.item == "b1"

    entry = queue.select(eligible)
    assert entry is not None and entry.item == "b1"
    assert asked == ["a1", "a2", "b1"]


def test_skipped_high_priority_entry_does_not_block_lower_ones() -> None:
    queue = _queue()
    queue.push(_entry("a", "normal", priority=PRIORITY_NORMAL))
    queue.push(_entry("a", "high", priority=PRIORITY_HIGH))
    entry = queue.select(lambda e: e.item != "high")
    assert entry is not None and entry.item == "normal"
    assert [e.item for e in queue] == ["high"]


# -- deadlines ---------------------------------------------------------------------------------


def test_expired_removes_entries_at_or_past_their_deadline() -> None:
    queue = _queue()
    early = _entry("a", "early", deadline=10.0)
    exact = _entry("b", "exact", deadline=20.0)
    late = _entry("a", "late", deadline=30.0)
    _push_all(queue, [early, exact, late])
    assert queue.next_deadline() == 10.0
    assert queue.expired(9.999) == []
    assert {e.item for e in queue.expired(20.0)} == {"early", "exact"}
    assert len(queue) == 1
    assert queue.depth_by_source() == {"a": 1}
    assert queue.next_deadline() == 30.0
    assert queue.expired(20.0) == []
    assert queue.expired(100.0) == [late]
    assert queue.next_deadline() is None
    assert len(queue) == 0


def test_next_deadline_is_the_minimum_over_all_sources() -> None:
    queue = _queue()
    _push_all(
        queue,
        [
            _entry("a", deadline=50.0),
            _entry("b", deadline=5.0),
            _entry("a", deadline=7.0, priority=PRIORITY_HIGH),
        ],
    )
    assert queue.next_deadline() == 5.0


def test_depth_by_source_and_iteration_cover_every_entry() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 3))
    _push_all(queue, _named("b", 1))
    assert queue.depth_by_source() == {"a": 3, "b": 1}
    assert sorted(e.item for e in queue) == ["a1", "a2", "a3", "b1"]
    queue.select(_any)
    assert queue.depth_by_source() == {"a": 2, "b": 1}


def test_iteration_tolerates_removal_while_iterating() -> None:
    queue = _queue()
    _push_all(queue, _named("a", 3))
    for entry in queue:
        queue.remove(entry)
    assert len(queue) == 0


# -- property: true round-robin under random traffic -------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_random_traffic_never_serves_a_source_twice_while_another_waits(seed: int) -> None:
    rng = random.Random(seed)
    sources = ["flood", "b", "c", "d", "e"]
    weights = [6, 2, 2, 1, 1]
    queue: FairQueue[str] = FairQueue(max_total=40, max_per_source=15)
    live: list[Entry] = []
    last: str | None = None
    counter = 0
    for _ in range(3000):
        roll = rng.random()
        if roll < 0.45:
            counter += 1
            source = rng.choices(sources, weights)[0]
            priority = rng.choice([PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_NORMAL, PRIORITY_LOW])
            entry = _entry(source, f"{source}-{counter}", priority=priority)
            try:
                queue.push(entry)
            except QueueFull as exc:
                assert exc.scope in ("total", "source")
                assert len(queue) >= 40 or queue.depth_by_source()[source] >= 15
                continue
            live.append(entry)
        elif roll < 0.5 and live:
            gone = live.pop(rng.randrange(len(live)))
            assert queue.remove(gone)
        else:
            blocked = {item for item in (e.item for e in live) if rng.random() < 0.3}

            def eligible(entry: Entry, blocked: set[str] = blocked) -> bool:
                return entry.item not in blocked

            ready = [e for e in live if eligible(e)]
            served = queue.select(eligible)
            if served is None:
                assert ready == []
                continue
            assert eligible(served)
            same_source = [e for e in ready if e.source == served.source]
            assert served.order == min(e.order for e in same_source)  # priority, then FIFO
            others = {e.source for e in ready} - {served.source}
            if served.source == last:
                assert not others, f"{last} served twice in a row while {others} waited"
            last = served.source
            live.remove(served)
        assert len(queue) == len(live)
        assert sum(queue.depth_by_source().values()) == len(live)
        assert {id(e) for e in queue} == {id(e) for e in live}


# -- the round at scale ------------------------------------------------------------------------


class _PlainRound:
    """The fair order spelled out the plain way: every turn sorts the waiting sources by their
    last turn (never served first, by arrival) and takes the first eligible entry."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[Entry]] = {}
        self.last_turn: dict[str, int] = {}
        self.active_since: dict[str, int] = {}
        self.turns = 0

    def add(self, entry: Entry) -> None:
        if entry.source not in self.waiting:
            self.waiting[entry.source] = []
            self.active_since[entry.source] = entry.seq
        self.waiting[entry.source].append(entry)
        self.waiting[entry.source].sort(key=lambda e: e.order)

    def remove(self, entry: Entry) -> bool:
        waiting = self.waiting.get(entry.source, [])
        if not any(e is entry for e in waiting):
            return False
        waiting[:] = [e for e in waiting if e is not entry]
        if not waiting:
            del self.waiting[entry.source]
        return True

    def select(self, eligible: Callable[[Entry], bool]) -> Entry | None:
        order = sorted(
            self.waiting, key=lambda s: (self.last_turn.get(s, -1), self.active_since[s])
        )
        for source in order:
            for entry in self.waiting[source]:
                if eligible(entry):
                    self.remove(entry)
                    self.last_turn[source] = self.turns
                    self.turns += 1
                    return entry
        return None


@pytest.mark.parametrize("seed", range(5))
def test_select_keeps_the_plain_fair_order_through_arrivals_departures_and_refusals(
    seed: int,
) -> None:
    rng = random.Random(seed)
    queue, plain = _queue(10_000, 10_000), _PlainRound()
    present: list[Entry] = []
    for step in range(3_000):
        action = rng.random()
        if action < 0.45:
            source = f"s{rng.randrange(40)}"
            priority = rng.choice([PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_NORMAL, PRIORITY_LOW])
            entry = _entry(source, f"{source}-{step}", priority=priority)
            queue.add(entry)
            plain.add(entry)
            present.append(entry)
        elif action < 0.55 and present:
            gone = present.pop(rng.randrange(len(present)))
            assert queue.remove(gone) and plain.remove(gone)
            assert not queue.remove(gone)
        else:
            refused = {e.item for e in present if rng.random() < 0.3}  # busy workers, limits

            def eligible(entry: Entry, refused: set[str] = refused) -> bool:
                return entry.item not in refused

            served, expected = queue.select(eligible), plain.select(eligible)
            assert served is expected, (step, served, expected)
            if served is not None:
                present.remove(served)
        assert len(queue) == len(present)


# -- keys: weighted parties, their sources inside -----------------------------------------------


def _keyed(key: str, source: str, item: str, weight: float = 1.0) -> Entry:
    return QueueEntry(source, item, 0.0, 100.0, key=key, weight=weight)


def _keys_served(served: list[str]) -> str:
    return "".join(item[0] for item in served)  # items are named "<key letter><n>"


def test_weights_1_and_2_both_waiting_get_turns_1_to_2() -> None:
    queue = _queue()
    for n in range(30):
        queue.push(_keyed("key_a", "ide", f"a{n}", weight=1.0))
        queue.push(_keyed("key_b", "ide", f"b{n}", weight=2.0))
    served = _keys_served([queue.select(_any).item for _ in range(30)])  # type: ignore[union-attr]
    assert served.count("b") == 20 and served.count("a") == 10
    assert served[:6] in ("abbabb", "bbabba")  # each turn: one of a, two of b


def test_a_weight_below_one_is_served_every_other_turn() -> None:
    queue = _queue()
    for n in range(20):
        queue.push(_keyed("key_a", "ide", f"a{n}", weight=1.0))
        queue.push(_keyed("key_h", "ide", f"h{n}", weight=0.5))
    served = _keys_served([queue.select(_any).item for _ in range(15)])  # type: ignore[union-attr]
    assert served.count("a") == 10 and served.count("h") == 5


def test_a_single_party_of_small_weight_is_still_served_at_once() -> None:
    queue = _queue()
    queue.push(_keyed("key_h", "ide", "h1", weight=0.01))
    assert _items(queue.select(_any)) == ["h1"]


def test_inventing_sources_does_not_enlarge_a_keys_share() -> None:
    queue = _queue()
    for n in range(12):
        queue.push(_keyed("key_x", f"invented-{n}", f"x{n}"))  # twelve X-Source values
        queue.push(_keyed("key_y", "ide", f"y{n}"))
    served = _keys_served([queue.select(_any).item for _ in range(12)])  # type: ignore[union-attr]
    assert served == "xy" * 6


def test_a_keys_sources_take_turns_inside_its_share() -> None:
    queue = _queue()
    _push_all(queue, [_keyed("key_x", "ci", f"c{n}") for n in range(3)])
    _push_all(queue, [_keyed("key_x", "ide", f"i{n}") for n in range(3)])
    assert _drain(queue) == ["c0", "i0", "c1", "i1", "c2", "i2"]
    assert queue.depth_by_key() == {}


def test_a_key_at_its_concurrency_cap_is_passed_over_and_keeps_its_place() -> None:
    queue = _queue()
    _push_all(queue, [_keyed("key_a", "ide", f"a{n}") for n in range(2)])
    _push_all(queue, [_keyed("key_b", "ide", f"b{n}") for n in range(3)])
    capped = {"key_a"}
    served = [queue.select(_any, capped.__contains__) for _ in range(2)]
    assert _items(*served) == ["b0", "b1"]
    capped.clear()  # a request of key_a ended: it is first again
    assert _items(queue.select(_any, capped.__contains__)) == ["a0"]
    assert queue.depth_by_key() == {"key_a": 1, "key_b": 1}


def test_the_per_source_cap_counts_a_whole_key() -> None:
    queue = _queue(max_per_source=2)
    queue.push(_keyed("key_a", "one", "a1"))
    queue.push(_keyed("key_a", "two", "a2"))
    with pytest.raises(QueueFull, match="this key's queue is full") as caught:
        queue.push(_keyed("key_a", "three", "a3"))
    assert caught.value.scope == "source"
    queue.push(_entry("three", "bootstrap"))  # the bootstrap token's sources: their own caps
    assert queue.depth_by_source() == {"one": 1, "two": 1, "three": 1}


def test_bootstrap_sources_and_keys_share_one_round() -> None:
    queue = _queue()
    _push_all(queue, _named("s", 2))  # the bootstrap token, X-Source "s"
    _push_all(queue, [_keyed("key_k", "s", f"k{n}") for n in range(2)])  # a key, same X-Source
    assert _drain(queue) == ["s1", "k0", "s2", "k1"]
