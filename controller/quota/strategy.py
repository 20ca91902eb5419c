"""Pure: which account a new conversation goes to, by quota, and when a conversation moves.

QUOTA_STRATEGY orders the accounts that can take a request now:
- `headroom` (default): the most headroom in the binding window (the lowest of each account's
  highest utilisation); on a tie the binding window that resets soonest.
- `spread`: no quota ordering: the most free slots, then the least recently used (alternation).
- `drain-first`: the account whose window resets soonest, so no window's allowance expires
  unused; accounts with no known reset come last.
Under every strategy an account past QUOTA_MOVE_AT (or refused) gets new work only when no other
can take it, and the capacity tie-breaks follow: most free slots, least recent use, PRIMARY_WORKER.
A conversation stays on its account until that account passes QUOTA_MOVE_AT or is refused.
"""

from __future__ import annotations

import math

from controller.quota.windows import Headroom

STRATEGIES = ("headroom", "spread", "drain-first")
DEFAULT_STRATEGY = "headroom"
DEFAULT_MOVE_AT = 0.95


def quota_key(strategy: str, headroom: Headroom, move_at: float) -> tuple[float, ...]:
    """Larger is better; compared before the capacity tie-breaks."""
    below = 0.0 if headroom.over(move_at) else 1.0
    if strategy == "headroom":
        return (below, -round(headroom.pressure, 2), -_or_inf(headroom.resets_at))
    if strategy == "drain-first":
        return (below, -_or_inf(headroom.soonest_reset))
    return (below,)


def reason(strategy: str, headroom: Headroom, now: float) -> str:
    """Why the chosen account won, for the `routed` event."""
    if strategy == "spread":
        return "spread: most free slots, least recently used"
    if strategy == "drain-first":
        if not headroom.soonest_reset:
            return "drain-first: no reset known"
        return f"drain-first: a window resets in {_duration(headroom.soonest_reset - now)}"
    detail = headroom.describe()
    if headroom.resets_at:
        detail += f", resets in {_duration(headroom.resets_at - now)}"
    return f"headroom: {detail}"


def move_reason(headroom: Headroom, move_at: float) -> str:
    if headroom.rejected:
        return f"quota: {headroom.window} refused"
    return f"quota: {headroom.describe()} >= QUOTA_MOVE_AT {move_at:g}"


def _or_inf(reset: float) -> float:
    return reset if reset else math.inf


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 86400:
        return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 60}m {seconds % 60}s"
