"""Pure: failed authentication attempts counted per client address, with a short back-off.

After MAX_FAILURES failures within WINDOW_S, an address is refused (429) for BLOCK_S without its
key even being checked; a success elsewhere resets nobody. At most MAX_ADDRESSES addresses are
remembered (the least recently failing is forgotten first), so a flood of addresses cannot grow
the map without bound.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

MAX_FAILURES = 10
WINDOW_S = 60.0
BLOCK_S = 30.0
MAX_ADDRESSES = 10_000


@dataclass(slots=True)
class _Address:
    failures: deque[float] = field(default_factory=deque)  # the last MAX_FAILURES, oldest first
    blocked_until: float = 0.0


class FailedAttempts:
    """Failures per address on a monotonic clock the caller passes (seconds)."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        block_s: float = BLOCK_S,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.block_s = block_s
        self.max_addresses = max_addresses
        self._addresses: OrderedDict[str, _Address] = OrderedDict()

    def __len__(self) -> int:
        return len(self._addresses)

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds `address` is still refused for (0: it may try)."""
        state = self._addresses.get(address)
        if state is None or now >= state.blocked_until:
            return 0.0
        return state.blocked_until - now

    def failed(self, address: str, now: float) -> None:
        """One more failure from `address`; the one that fills the window starts a block."""
        state = self._addresses.pop(address, None) or _Address()
        self._addresses[address] = state  # most recent last
        if state.blocked_until and now >= state.blocked_until:
            state.failures.clear()  # a block served wipes the slate
            state.blocked_until = 0.0
        state.failures.append(now)
        while state.failures and now - state.failures[0] >= self.window_s:
            state.failures.popleft()
        while len(state.failures) > self.max_failures:
            state.failures.popleft()
        if len(state.failures) >= self.max_failures:
            state.blocked_until = now + self.block_s
        while len(self._addresses) > self.max_addresses:
            self._addresses.popitem(last=False)
