"""Pure: the last known state of each account's usage windows, and its headroom.

Workers report windows (`RateLimitStatus.windows`): the CLI's `rate_limit_event` names one
window at a time, with a figure only once it passes a warning threshold (a plain `allowed` means
every window is below warning: known as such, not as a number); `api` workers read the upstream's
headers and know every figure. The book keeps, per worker and window, the newest report; a window
whose reset time has passed reads as fresh. No I/O: the controller persists the book's rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from protos import common_pb2 as pb

# What an account below its warning thresholds, or one that never reported, counts as when
# accounts are compared: between an idle account and one that warns (the CLI warns from 0.75).
UNKNOWN_PRESSURE = 0.5
WINDOW_ORDER = ("five_hour", "seven_day", "seven_day_opus", "seven_day_sonnet", "overage")


@dataclass(frozen=True)
class WindowState:
    """One window of one account as last reported."""

    window: str
    status: str  # allowed, allowed_warning, rejected; "" when not reported
    utilization: float | None  # 0..1; None: below its warning threshold, no figure
    resets_at: float  # unix seconds, 0 when unknown
    seen_at: float
    threshold: float = 0.0  # the warning threshold it passed, 0 when none

    @property
    def pressure(self) -> float:
        """How used up it is, for comparing accounts: a refused window is full."""
        if self.status == "rejected":
            return 1.0
        return UNKNOWN_PRESSURE if self.utilization is None else self.utilization

    def current(self, now: float) -> WindowState:
        """As of `now`: a window whose reset has passed starts afresh."""
        if not self.resets_at or self.resets_at > now:
            return self
        fresh = None if self.utilization is None else 0.0
        return dataclasses.replace(self, status="allowed", utilization=fresh, resets_at=0.0)

    @classmethod
    def from_pb(cls, window: pb.QuotaWindow, now: float) -> WindowState:
        return cls(
            window=window.window,
            status=window.status,
            utilization=window.utilization if window.utilization_known else None,
            resets_at=float(window.resets_at),
            seen_at=window.seen_at or now,
            threshold=window.surpassed_threshold,
        )

    def to_pb(self) -> pb.QuotaWindow:
        return pb.QuotaWindow(
            window=self.window,
            status=self.status,
            utilization=self.utilization or 0.0,
            utilization_known=self.utilization is not None,
            resets_at=int(self.resets_at),
            seen_at=self.seen_at,
            surpassed_threshold=self.threshold,
        )


@dataclass(frozen=True)
class Headroom:
    """An account's binding window (the most used one) and its soonest reset."""

    utilization: float | None = None  # the binding window's; None: no figure known
    window: str = ""
    resets_at: float = 0.0  # the binding window's reset
    soonest_reset: float = 0.0  # the earliest reset of any of its windows, 0 when none known
    rejected: bool = False

    @property
    def pressure(self) -> float:
        if self.rejected:
            return 1.0
        return UNKNOWN_PRESSURE if self.utilization is None else self.utilization

    def over(self, move_at: float) -> bool:
        """Past the level where conversations move off it (only a known figure counts)."""
        return self.rejected or (self.utilization is not None and self.utilization >= move_at)

    def describe(self) -> str:
        if not self.window:
            return "no quota report"
        if self.rejected:
            return f"{self.window} refused"
        if self.utilization is None:
            return f"{self.window} below warning"
        return f"{self.window} at {self.utilization:.0%}"


UNKNOWN = Headroom()


def headroom_of(windows: Iterable[WindowState]) -> Headroom:
    """The binding window: the highest utilisation (a later reset binds longer on a tie)."""
    states = list(windows)
    if not states:
        return UNKNOWN
    binding = max(states, key=lambda w: (w.pressure, w.utilization is not None, w.resets_at))
    resets = [w.resets_at for w in states if w.resets_at]
    return Headroom(
        utilization=1.0 if binding.status == "rejected" else binding.utilization,
        window=binding.window,
        resets_at=binding.resets_at,
        soonest_reset=min(resets, default=0.0),
        rejected=binding.status == "rejected",
    )


def account_status(windows: Iterable[WindowState]) -> str:
    """The worst status of its windows: rejected, allowed_warning, allowed; "" when none."""
    statuses = {w.status for w in windows}
    for status in ("rejected", "allowed_warning", "allowed"):
        if status in statuses:
            return status
    return ""


def window_rank(name: str) -> tuple[int, str]:
    return (WINDOW_ORDER.index(name) if name in WINDOW_ORDER else len(WINDOW_ORDER), name)


class QuotaBook:
    """Every worker's windows; the caller passes `now` (wall clock seconds)."""

    def __init__(self) -> None:
        self._windows: dict[str, dict[str, WindowState]] = {}

    def note(self, worker: str, report: pb.RateLimitStatus, now: float) -> list[WindowState]:
        """Apply one report; returns the windows it changed (to be persisted)."""
        known = self._windows.setdefault(worker, {})
        changed = [WindowState.from_pb(w, now) for w in report.windows if w.window]
        named = {w.window for w in changed}
        if report.complete:  # every window not named is below its warning threshold
            for state in known.values():
                if state.window not in named and state.current(now).utilization != 0.0:
                    changed.append(_below_warning(state, now))
        for state in changed:
            known[state.window] = state
        return changed

    def load(self, worker: str, states: Iterable[WindowState]) -> None:
        """Restore persisted windows (a newer report always replaces them)."""
        known = self._windows.setdefault(worker, {})
        for state in states:
            if state.window not in known or known[state.window].seen_at < state.seen_at:
                known[state.window] = state

    def windows(self, worker: str, now: float) -> list[WindowState]:
        """Its windows as of `now`, five-hour first."""
        states = self._windows.get(worker)
        if not states:
            return []  # never reported (every placement asks): nothing to sort
        return sorted(
            (w.current(now) for w in states.values()), key=lambda w: window_rank(w.window)
        )

    def headroom(self, worker: str, now: float) -> Headroom:
        return headroom_of(self.windows(worker, now))

    def refused_until(self, worker: str, now: float) -> float:
        """The latest reset of a refused window still ahead, 0 when none."""
        resets = [
            w.resets_at
            for w in self._windows.get(worker, {}).values()
            if w.status == "rejected" and w.resets_at > now
        ]
        return max(resets, default=0.0)


def _below_warning(state: WindowState, now: float) -> WindowState:
    reset = state.resets_at if state.resets_at > now else 0.0
    return dataclasses.replace(
        state, status="allowed", utilization=None, resets_at=reset, seen_at=now, threshold=0.0
    )
