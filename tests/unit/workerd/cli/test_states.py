"""workerd/cli/states.py: the lifecycle of a CLI process (warm, running, parked, retired)."""

from __future__ import annotations

import itertools

import pytest

from workerd.cli.states import ALLOWED, ChildState, InvalidTransition, check_transition

LEGAL = {
    (ChildState.STARTING, ChildState.READY),
    (ChildState.STARTING, ChildState.RUNNING),
    (ChildState.READY, ChildState.RUNNING),
    (ChildState.READY, ChildState.STOPPING),
    (ChildState.READY, ChildState.EXITED),
    (ChildState.RUNNING, ChildState.PARKED),
    (ChildState.PARKED, ChildState.RUNNING),
    (ChildState.PARKED, ChildState.STOPPING),
    (ChildState.PARKED, ChildState.EXITED),
    (ChildState.RUNNING, ChildState.AWAITING),
    (ChildState.AWAITING, ChildState.RUNNING),
    (ChildState.AWAITING, ChildState.STOPPING),
    (ChildState.AWAITING, ChildState.EXITED),
    (ChildState.STARTING, ChildState.STOPPING),
    (ChildState.STARTING, ChildState.EXITED),
    (ChildState.RUNNING, ChildState.STOPPING),
    (ChildState.RUNNING, ChildState.EXITED),
    (ChildState.STOPPING, ChildState.EXITED),
}
ALL_PAIRS = list(itertools.product(ChildState, repeat=2))


def test_table_covers_every_state() -> None:
    assert set(ALLOWED) == set(ChildState)


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL, key=str))
def test_legal_transitions(current: ChildState, target: ChildState) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"), [pair for pair in ALL_PAIRS if pair not in LEGAL], ids=str
)
def test_illegal_transitions(current: ChildState, target: ChildState) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(current, target)
    assert str(info.value) == f"{current.value} -> {target.value}"


def test_exited_is_terminal() -> None:
    assert ALLOWED[ChildState.EXITED] == set()


def test_every_state_can_reach_exited() -> None:
    for state in ChildState:
        seen = {state}
        frontier = [state]
        while frontier:
            for nxt in ALLOWED[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert ChildState.EXITED in seen


def test_values_are_lowercase_names() -> None:
    assert [s.value for s in ChildState] == [
        "starting",
        "ready",
        "running",
        "parked",
        "awaiting",
        "stopping",
        "exited",
    ]
