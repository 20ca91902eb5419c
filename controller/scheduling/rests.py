"""Accounts at rest: every worker's cooldown and quota windows, and the events they emit.

A worker rests when the upstream refuses its account (429, 529, a credential refused) or its
account reports a refused quota window, for as long as cooldown.py's `rest_for` says. The windows
each worker reports are kept for routing's headroom and handed to `on_quota`, which persists
them. The scheduler (scheduler.py) places requests around both books.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from controller.events import kinds
from controller.events.bus import EventBus
from controller.quota.windows import QuotaBook, WindowState, account_status
from controller.scheduling.cooldown import CooldownBook, rest_for
from protos import common_pb2 as pb

USAGE_LIMIT = "usage limit reached"  # only a refused usage window; a 429 else is "rate limited"
REFUSALS = {
    pb.RATE_LIMITED: "rate limited",
    pb.UPSTREAM_OVERLOADED: "overloaded",
    pb.UPSTREAM_AUTH: "credential refused",
}
"""The upstream refusals that rest an account, with the reason the rest gives."""


class AccountRests:
    """The cooldown and quota books of the workers; `wall` is the injected wall clock."""

    def __init__(
        self, workers: Collection[str], events: EventBus, wall: Callable[[], float]
    ) -> None:
        self.events = events
        self.wall = wall
        self.cooldowns = CooldownBook()
        self.quota = QuotaBook()
        self.on_quota: Callable[[str, list[WindowState]], None] | None = None  # persists them
        self._workers = workers

    def _rest_started(self) -> None:
        """A worker began or extended a rest: the scheduler overrides this to look again."""

    def start_cooldown(
        self, worker: str, seconds: float, reason: str, basis: str = "estimate"
    ) -> None:
        now = self.wall()
        if self.cooldowns.start(worker, seconds, reason, now, basis):
            self.events.emit(
                kinds.CooldownStarted(
                    worker=worker,
                    seconds=round(seconds, 1),
                    reason=reason,
                    basis=basis,
                    until=round(self.cooldowns.of(worker).until, 3),
                )
            )
        self._rest_started()

    def note_quota(self, worker: str, report: pb.RateLimitStatus) -> None:
        """A worker's report of its account's windows: kept (and persisted); a refusal rests
        the worker until the refused window's reported reset."""
        now = self.wall()
        before = account_status(self.quota.windows(worker, now))
        changed = self.quota.note(worker, report, now)
        if changed and self.on_quota is not None:
            self.on_quota(worker, changed)
        after = account_status(self.quota.windows(worker, now))
        if after != before:
            headroom = self.quota.headroom(worker, now)
            self.events.emit(
                kinds.QuotaChanged(
                    worker=worker, status=after, previous=before, binding=headroom.describe()
                )
            )
        if report.status == "rejected":
            resets_at = self.quota.refused_until(worker, now) or float(report.resets_at)
            self._rest(worker, USAGE_LIMIT, resets_at, 0.0)

    def note_refusal(self, worker: str, error: pb.Error) -> None:
        """An upstream refusal ends an attempt: the account rests (429, 529, bad credential)."""
        reason = REFUSALS.get(error.code)
        if reason is None:
            return
        retry_s = error.retry_after_ms / 1000 if error.code != pb.UPSTREAM_AUTH else 0.0
        limited = error.code == pb.RATE_LIMITED
        resets_at = self.quota.refused_until(worker, self.wall()) if limited else 0.0
        if resets_at:  # a refused usage window: until its reset; else a rate limit, as told
            reason = USAGE_LIMIT
        self._rest(worker, reason, resets_at, retry_s)

    def _rest(self, worker: str, reason: str, resets_at: float, retry_after_s: float) -> None:
        rest = rest_for(reason, resets_at, retry_after_s, self.wall())
        self.start_cooldown(worker, rest.seconds, reason, rest.basis)

    def restore_quota(self, saved: dict[str, list[WindowState]]) -> None:
        """Windows persisted by an earlier controller; a refusal still ahead rests again."""
        now = self.wall()
        for worker, states in saved.items():
            if worker not in self._workers:
                continue
            self.quota.load(worker, states)
            refused_until = self.quota.refused_until(worker, now)
            if refused_until:
                self._rest(worker, USAGE_LIMIT, refused_until, 0.0)

    def end_cooldowns(self) -> None:
        """Rests over by now end, each with its event."""
        for worker in self.cooldowns.ended(self.wall()):
            self.events.emit(kinds.CooldownEnded(worker=worker))
