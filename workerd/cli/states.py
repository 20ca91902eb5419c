"""States of a CLI process and the transitions allowed between them (stdlib only).

A process starts, becomes ready once it has answered `initialize` (a warm process), runs a
turn, and is then parked for its conversation or retired. A cold spawn goes straight from
starting to running. Retiring is stopping, then exited.
"""

from __future__ import annotations

import enum


class ChildState(enum.Enum):
    STARTING = "starting"
    READY = "ready"  # warm: answered `initialize`, waiting for a request
    RUNNING = "running"
    PARKED = "parked"  # between turns, holding its conversation
    AWAITING = "awaiting"  # mid-turn, its client tool calls out: busy until the results come
    STOPPING = "stopping"  # interrupt or signals sent, waiting for it to go
    EXITED = "exited"


IDLE_STATES = frozenset({ChildState.READY, ChildState.PARKED})

ALLOWED = {
    ChildState.STARTING: {
        ChildState.READY,
        ChildState.RUNNING,
        ChildState.STOPPING,
        ChildState.EXITED,
    },
    ChildState.READY: {ChildState.RUNNING, ChildState.STOPPING, ChildState.EXITED},
    ChildState.RUNNING: {
        ChildState.PARKED,
        ChildState.AWAITING,
        ChildState.STOPPING,
        ChildState.EXITED,
    },
    ChildState.AWAITING: {ChildState.RUNNING, ChildState.STOPPING, ChildState.EXITED},
    ChildState.PARKED: {ChildState.RUNNING, ChildState.STOPPING, ChildState.EXITED},
    ChildState.STOPPING: {ChildState.EXITED},
    ChildState.EXITED: set(),
}


class InvalidTransition(Exception):
    """A state change the table does not allow: a bug, not an operational failure."""


def check_transition(current: ChildState, target: ChildState) -> None:
    if target not in ALLOWED[current]:
        raise InvalidTransition(f"{current.value} -> {target.value}")
