"""Pure cooldowns: an account that reports a limit rests until it comes back.

How long (`rest_for`): a reset time the upstream reported is honoured as it is, however far
ahead (a refused weekly window really lasts until its reset); a `retry-after` is honoured up to
`MAX_GUESS_S`; with neither, the kind of refusal gives an estimate, also bounded. The basis is
kept, so the dashboard can say whether the return time is reported or estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_GUESS_S = 6 * 3600.0
# Rests when the upstream says nothing about when the account comes back.
ESTIMATES_S = {
    "usage limit reached": 60.0,
    "rate limited": 60.0,
    "overloaded": 15.0,
    "credential refused": 300.0,
}
DEFAULT_ESTIMATE_S = 60.0
BASES = ("reset", "retry_after", "estimate")


@dataclass(frozen=True)
class Rest:
    """How long to rest and what that figure rests on: reset, retry_after or estimate."""

    seconds: float
    basis: str


def rest_for(reason: str, resets_at: float, retry_after_s: float, now: float) -> Rest:
    """A reported reset ahead wins (unbounded); then retry-after; then the estimate (bounded)."""
    if resets_at > now:
        return Rest(max(resets_at - now, 1.0), "reset")
    if retry_after_s > 0:
        return Rest(min(max(retry_after_s, 1.0), MAX_GUESS_S), "retry_after")
    estimate = ESTIMATES_S.get(reason, DEFAULT_ESTIMATE_S)
    return Rest(min(max(estimate, 1.0), MAX_GUESS_S), "estimate")


@dataclass
class Cooldown:
    """When a worker may serve again, why it rests and what the return time rests on."""

    until: float = 0.0
    reason: str = ""
    basis: str = ""

    def active(self, now: float) -> bool:
        return now < self.until

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.until - now)


class CooldownBook:
    """Cooldown state of every worker; the caller passes `now` (seconds, wall clock)."""

    def __init__(self) -> None:
        self._workers: dict[str, Cooldown] = {}

    def of(self, worker: str) -> Cooldown:
        state = self._workers.get(worker)
        if state is None:  # not setdefault: asked on every placement, it would build one each time
            state = self._workers[worker] = Cooldown()
        return state

    def start(
        self, worker: str, seconds: float, reason: str, now: float, basis: str = "estimate"
    ) -> bool:
        """Rest until now + seconds (never shortens a longer rest); True if newly cooling."""
        state = self.of(worker)
        was_active = state.active(now)
        if now + seconds > state.until:
            state.until = now + seconds
            state.reason = reason
            state.basis = basis
        return not was_active

    def ended(self, now: float) -> list[str]:
        """Workers whose rest is over since the last call (each reported once)."""
        done = [w for w, s in self._workers.items() if s.until and not s.active(now)]
        for worker in done:
            self._workers[worker].until = 0.0
            self._workers[worker].reason = ""
            self._workers[worker].basis = ""
        return done

    def earliest_end(self, now: float) -> float | None:
        ends = [s.until for s in self._workers.values() if s.active(now)]
        return min(ends, default=None)
