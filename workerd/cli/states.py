"""States of a CLI child and the transitions allowed between them (stdlib only)."""

from __future__ import annotations

import enum


class ChildState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"  # interrupt or signals sent, waiting for it to go
    EXITED = "exited"


ALLOWED = {
    ChildState.STARTING: {ChildState.RUNNING, ChildState.STOPPING, ChildState.EXITED},
    ChildState.RUNNING: {ChildState.STOPPING, ChildState.EXITED},
    ChildState.STOPPING: {ChildState.EXITED},
    ChildState.EXITED: set(),
}


class InvalidTransition(Exception):
    """A state change the table does not allow: a bug, not an operational failure."""


def check_transition(current: ChildState, target: ChildState) -> None:
    if target not in ALLOWED[current]:
        raise InvalidTransition(f"{current.value} -> {target.value}")
