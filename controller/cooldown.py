"""Pure quota-aware cooldowns: an account that reports a limit rests until its reset."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_COOLDOWN_S = 60.0
OVERLOAD_COOLDOWN_S = 15.0
MAX_COOLDOWN_S = 6 * 3600.0


@dataclass
class Cooldown:
    """When a worker may serve again, and why it rests."""

    until: float = 0.0
    reason: str = ""
    quota_status: str = ""  # the account's last reported status: allowed, allowed_warning, rejected
    quota_resets_at: float = 0.0

    def active(self, now: float) -> bool:
        return now < self.until

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.until - now)


def cooldown_seconds(resets_at: float, retry_after_s: float, now: float, default: float) -> float:
    """How long to rest: the reported reset, else retry-after, else `default`; bounded."""
    if resets_at > now:
        wait = resets_at - now
    elif retry_after_s > 0:
        wait = retry_after_s
    else:
        wait = default
    return min(max(wait, 1.0), MAX_COOLDOWN_S)


class CooldownBook:
    """Cooldown state of every worker; the caller passes `now` (seconds, wall clock)."""

    def __init__(self) -> None:
        self._workers: dict[str, Cooldown] = {}

    def of(self, worker: str) -> Cooldown:
        return self._workers.setdefault(worker, Cooldown())

    def note_quota(self, worker: str, status: str, resets_at: float) -> None:
        """The account's status from a rate_limit_event; `allowed_warning` is only shown."""
        state = self.of(worker)
        state.quota_status = status
        state.quota_resets_at = resets_at

    def start(self, worker: str, seconds: float, reason: str, now: float) -> bool:
        """Rest until now + seconds (never shortens a longer rest); True if newly cooling."""
        state = self.of(worker)
        was_active = state.active(now)
        if now + seconds > state.until:
            state.until = now + seconds
            state.reason = reason
        return not was_active

    def ended(self, now: float) -> list[str]:
        """Workers whose rest is over since the last call (each reported once)."""
        done = [w for w, s in self._workers.items() if s.until and not s.active(now)]
        for worker in done:
            self._workers[worker].until = 0.0
            self._workers[worker].reason = ""
        return done

    def earliest_end(self, now: float) -> float | None:
        ends = [s.until for s in self._workers.values() if s.active(now)]
        return min(ends, default=None)
