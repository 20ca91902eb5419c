"""Pure worker choice: follow the conversation when its worker can serve, else the best other.

A conversation stays on its worker unless that worker is down, draining, cooling down, over
its rate limit, full with as many requests already waiting for it as it has slots, or past
QUOTA_MOVE_AT while another can take it; then the request moves. A new conversation goes to
the account the quota strategy prefers (controller/quota/strategy.py), then the one with the most
free capacity, ties broken by least recent use, then PRIMARY_WORKER.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.quota import strategy as quota_strategy
from controller.quota.windows import UNKNOWN, Headroom


@dataclass
class WorkerView:
    """What routing needs to know about a worker; no I/O."""

    name: str
    up: bool = True
    draining: bool = False
    cooling: bool = False
    in_flight: int = 0
    max_concurrent: int = 1
    last_used: float = 0.0
    rate_wait_s: float = 0.0  # until this request's model family fits the worker's window
    waiting_for: int = 0  # queued requests whose conversation lives on this worker
    headroom: Headroom = UNKNOWN  # its account's binding window

    @property
    def available(self) -> bool:
        return self.up and not self.draining and not self.cooling

    @property
    def free(self) -> int:
        return self.max_concurrent - self.in_flight

    @property
    def can_take(self) -> bool:
        return self.available and self.free > 0 and self.rate_wait_s <= 0

    def why_not(self) -> str:
        """Why a conversation cannot stay here (for the `moved` event)."""
        if not self.up:
            return "down"
        if self.draining:
            return "draining"
        if self.cooling:
            return "cooling down"
        if self.rate_wait_s > 0:
            return "rate limit"
        return "full"


@dataclass(frozen=True)
class Policy:
    """QUOTA_STRATEGY and QUOTA_MOVE_AT; the default keeps quota out of the choice."""

    strategy: str = "spread"
    move_at: float = quota_strategy.DEFAULT_MOVE_AT


@dataclass(frozen=True)
class Choice:
    """A worker to run on now (`worker`), or a reason to keep waiting (`worker` is None)."""

    worker: str | None
    moved: bool = False
    wait_for_preferred: bool = False
    reason: str = field(default="", compare=False)  # why it moved
    headroom: Headroom = field(default=UNKNOWN, compare=False)  # the chosen account's


def choose_worker(
    workers: Sequence[WorkerView],
    preferred: str | None,
    primary: str,
    exclude: frozenset[str] = frozenset(),
    policy: Policy = Policy(),
) -> Choice:
    candidates = [w for w in workers if w.name not in exclude]
    home = next((w for w in candidates if w.name == preferred), None)
    if home is not None:
        if home.can_take and not _quota_move(home, candidates, policy):
            return Choice(home.name)
        if not home.can_take and _worth_waiting_for(home):
            return Choice(None, wait_for_preferred=True)
    best = _best(candidates, primary, policy)
    if best is None:
        return Choice(None)
    if preferred is None:
        return Choice(best.name, headroom=best.headroom)
    if preferred in exclude:
        why = "retried after a failure"
    elif home is None:
        why = "its worker is gone"
    elif not home.can_take:
        why = home.why_not()
    else:
        why = quota_strategy.move_reason(home.headroom, policy.move_at)
    return Choice(best.name, moved=True, reason=why, headroom=best.headroom)


def _quota_move(home: WorkerView, candidates: Sequence[WorkerView], policy: Policy) -> bool:
    """Home is past QUOTA_MOVE_AT (or refused) and another account below it can take the request."""
    if not home.headroom.over(policy.move_at):
        return False
    return any(w.can_take and not w.headroom.over(policy.move_at) for w in candidates)


def _worth_waiting_for(home: WorkerView) -> bool:
    """Full but otherwise fine, and its own queue is still short: the conversation waits."""
    return home.available and home.rate_wait_s <= 0 and home.waiting_for < home.max_concurrent


def best_new_worker(
    candidates: Sequence[WorkerView], primary: str, policy: Policy = Policy()
) -> str | None:
    best = _best(candidates, primary, policy)
    return None if best is None else best.name


def _best(candidates: Sequence[WorkerView], primary: str, policy: Policy) -> WorkerView | None:
    ready = [w for w in candidates if w.can_take]
    if not ready:
        return None
    return max(
        ready,
        key=lambda w: (
            quota_strategy.quota_key(policy.strategy, w.headroom, policy.move_at),
            w.free,
            -w.last_used,
            w.name == primary,
        ),
    )
