"""Pure per-account, per-model-family rate limits over a sliding 60 s window.

Limits apply to each worker's account separately (each account has its own quota upstream),
so adding an account adds capacity. Token use is estimated at admission and corrected with the
real usage when the request ends. The built-in pace (a Max plan's) applies to OAuth
(subscription) accounts only; API-key accounts are paced only where RATE_LIMITS says so, and
otherwise follow the upstream's own limits (its headers, 429s and retry-after).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from common.config import ConfigError, Environ, env_json_object

WINDOW_S = 60.0


@dataclass(frozen=True)
class Limit:
    rpm: int
    tpm: int


# Roughly a Max plan's pace per account; RATE_LIMITS overrides per family.
DEFAULT_LIMITS = {
    "opus": Limit(rpm=28, tpm=57_000),
    "sonnet": Limit(rpm=57, tpm=190_000),
    "haiku": Limit(rpm=95, tpm=380_000),
    "fable": Limit(rpm=28, tpm=57_000),
    "other": Limit(rpm=57, tpm=190_000),
}


def limits_from_env(environ: Environ) -> dict[str, Limit]:
    """The built-in pace with RATE_LIMITS over it (OAuth accounts)."""
    return {**DEFAULT_LIMITS, **explicit_limits_from_env(environ)}


def explicit_limits_from_env(environ: Environ) -> dict[str, Limit]:
    """Only the families RATE_LIMITS names (API-key accounts)."""
    limits: dict[str, Limit] = {}
    for family, spec in env_json_object(environ, "RATE_LIMITS").items():
        if not isinstance(spec, dict):
            raise ConfigError("RATE_LIMITS", f"{family!r} must be an object with rpm and tpm")
        base = DEFAULT_LIMITS.get(family, DEFAULT_LIMITS["other"])
        rpm, tpm = spec.get("rpm", base.rpm), spec.get("tpm", base.tpm)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (rpm, tpm)):
            raise ConfigError("RATE_LIMITS", f"{family!r}: rpm and tpm must be positive numbers")
        limits[family] = Limit(rpm, tpm)
    return limits


@dataclass
class _Use:
    at: float
    tokens: int
    request_id: str


class RateWindow:
    """One (account, family) window."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._uses: deque[_Use] = deque()
        self._used = 0  # the running sum of the window's tokens: no sum on every admission
        self._by_request: dict[str, _Use] = {}  # the newest use of each request, to correct it

    def _trim(self, now: float) -> None:
        while self._uses and now - self._uses[0].at >= WINDOW_S:
            use = self._uses.popleft()
            self._used -= use.tokens
            if self._by_request.get(use.request_id) is use:
                del self._by_request[use.request_id]

    def wait_s(self, tokens: int, now: float) -> float:
        """0 when a request of `tokens` fits now, else seconds until it may."""
        self._trim(now)
        waits = [0.0]
        excess = len(self._uses) - self.limit.rpm + 1
        if excess > 0:  # that many of the oldest uses must leave the window first
            waits.append(self._uses[excess - 1].at + WINDOW_S - now)
        used = self._used
        if self._uses and used + tokens > self.limit.tpm:
            # Wait until enough old use leaves the window; a lone large request always fits.
            for use in self._uses:
                used -= use.tokens
                if used + tokens <= self.limit.tpm:
                    break
            waits.append(use.at + WINDOW_S - now)
        return max(waits)

    def record(self, request_id: str, tokens: int, now: float) -> None:
        use = _Use(now, tokens, request_id)
        self._uses.append(use)
        self._by_request[request_id] = use
        self._used += tokens

    def correct(self, request_id: str, tokens: int) -> None:
        """The request's real use replaces its estimate (its newest use, while in the window)."""
        use = self._by_request.get(request_id)
        if use is not None:
            self._used += tokens - use.tokens
            use.tokens = tokens

    def usage(self, now: float) -> tuple[int, int]:
        self._trim(now)
        return len(self._uses), self._used

    def replenished_s(self, now: float) -> float:
        """Seconds until every use now in the window has left it (0 when it is empty)."""
        self._trim(now)
        return max(self._uses[-1].at + WINDOW_S - now, 0.0) if self._uses else 0.0


class RateLimiter:
    """All windows, created on first use. Workers in `own_limits` use those limits instead
    (API-key accounts: only what RATE_LIMITS names); a family with no limit is not paced."""

    def __init__(
        self, limits: dict[str, Limit], own_limits: dict[str, dict[str, Limit]] | None = None
    ) -> None:
        self.limits = limits
        self.own_limits = own_limits or {}
        self._windows: dict[tuple[str, str], RateWindow] = {}

    def set_own_limits(self, worker: str, limits: dict[str, Limit] | None) -> None:
        """Give a worker its own limits (None: the shared ones); its windows start afresh."""
        if self.own_limits.get(worker) is limits:
            return
        if limits is None:
            self.own_limits.pop(worker, None)
        else:
            self.own_limits[worker] = limits
        for key in [k for k in self._windows if k[0] == worker]:
            del self._windows[key]

    def limit_of(self, worker: str, family: str) -> Limit | None:
        limits = self.own_limits.get(worker, self.limits)
        return limits.get(family, limits.get("other"))

    def paced(self, worker: str, family: str) -> bool:
        return self.limit_of(worker, family) is not None

    def wait_s(self, worker: str, family: str, tokens: int, now: float) -> float:
        if not self.paced(worker, family):
            return 0.0
        return self.window(worker, family).wait_s(tokens, now)

    def record(self, worker: str, family: str, request_id: str, tokens: int, now: float) -> None:
        if self.paced(worker, family):
            self.window(worker, family).record(request_id, tokens, now)

    def correct(self, worker: str, family: str, request_id: str, tokens: int) -> None:
        if (worker, family) in self._windows:
            self._windows[(worker, family)].correct(request_id, tokens)

    def window(self, worker: str, family: str) -> RateWindow:
        key = (worker, family)
        if key not in self._windows:
            limit = self.limit_of(worker, family)
            assert limit is not None, f"{worker}/{family} is not paced"
            self._windows[key] = RateWindow(limit)
        return self._windows[key]

    def usage(self, now: float) -> dict[tuple[str, str], tuple[int, int]]:
        return {key: window.usage(now) for key, window in self._windows.items()}


def estimate_tokens(prompt_chars: int) -> int:
    """About four characters a token; never zero."""
    return max(1, prompt_chars // 4)
