"""Pure: which CLI process serves a request, what each one holds, and which idle ones must go.

A request is served, in order of preference, by
  live  the process parked for its conversation, when the request's turns extend exactly what
        that process holds and its signature is the request's: only the new turns are written;
  warm  a ready process of the request's signature: the whole conversation is written;
  cold  a process spawned for it.
When a conversation with history is not continued live, the plan says why (`rebuild_reason`):
edited (the history differs from what the process holds), signature (another model, system
prompt or setting), budget (the conversation must be cut to fit), why its process went
(failed, evicted, expired, gone: it died while idle), or unknown (this worker never held it:
it came from another worker, a restart, or a client that built the history itself). With
pooling off (`max_idle` 0) nothing is ever held, so nothing counts as a rebuild.

A request with no ready process of its signature claims the oldest one still starting (it
waits for it; `Slot.claimed`), and only when none is does it need a new one.

Warm processes follow demand (demand.py): per recent signature, its share of the floor
(`warm_processes`) or the new conversations it saw in a burst or during one start-up, whichever
is more, within the `ceiling` (how many warm processes the memory budget allows, set by the
engine) and `max_idle` (warm and parked processes together, at most). A ready process beyond
its signature's target retires once it has idled `warm_idle_s`, or its signature has had no new
conversation for that long; parked ones make room least recently used first. No I/O here: the
engine does what the pool decides.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from workerd.anthropic.content import Turn
from workerd.cli.demand import Demand
from workerd.cli.invocation import Signature
from workerd.cli.states import ChildState

LIVE, WARM, COLD = "live", "warm", "cold"
RECENT_SIGNATURES = 8
REMEMBERED_CONVERSATIONS = 256


@dataclass
class Slot:
    """A CLI process as the pool sees it: its signature, its state and its conversation."""

    pid: int
    signature: Signature
    state: ChildState
    born: float
    since: float  # when it became ready, started its turn or was parked
    key: str = ""  # the conversation it runs or holds
    held: list[Turn] = field(default_factory=list)  # that conversation, as the client sees it
    awaiting: tuple[str, ...] = ()  # tool_use ids whose results the process waits for
    claimed: bool = False  # starting, and promised to a request that waits for it


@dataclass(frozen=True)
class Plan:
    served: str  # live, warm or cold
    slot: Slot | None  # the process to use; None for a cold spawn
    turns: list[Turn]  # what to write: the new turns when live, else the whole conversation
    rebuild_reason: str = ""


@dataclass(frozen=True)
class PoolLimits:
    warm_processes: int = 2
    max_idle: int = 4
    warm_max_age_s: float = 600.0
    conversation_idle_s: float = 300.0
    max_age_s: float = 1800.0  # an idle process older than this is not given another turn
    tool_result_timeout_s: float = 600.0  # a process waiting for tool results, at most
    warm_idle_s: float = 60.0  # a warm process beyond the target goes after idling this long

    @property
    def warm_target(self) -> int:
        """The floor: ready processes kept whatever the demand (`warm_processes`)."""
        return max(0, min(self.warm_processes, self.max_idle))

    @property
    def parked_room(self) -> int:
        return max(0, self.max_idle - self.warm_target)


class SessionPool:
    """The processes of one worker, by state; decisions only, the caller does the I/O."""

    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        self._slots: dict[int, Slot] = {}
        self._recent: OrderedDict[str, Signature] = OrderedDict()
        self._fallbacks: dict[str, float] = {}  # signature key -> cold spawns only until then
        self._gone: OrderedDict[str, str] = OrderedDict()  # conversation key -> why
        self.demand = Demand(limits.warm_idle_s)
        self.ceiling = limits.max_idle  # warm processes the memory budget allows (the engine's)
        self.start_s = 1.0  # how long a warm start takes (the engine measures it)

    # --- registry -------------------------------------------------------------------------

    def add(self, slot: Slot) -> None:
        self._slots[slot.pid] = slot

    def get(self, pid: int) -> Slot | None:
        return self._slots.get(pid)

    def slots(self, *states: ChildState) -> list[Slot]:
        return [s for s in self._slots.values() if not states or s.state in states]

    def remove(self, pid: int, reason: str) -> Slot | None:
        """Forget a process; a conversation it held remembers why it went (for the next turn)."""
        slot = self._slots.pop(pid, None)
        if slot is not None and slot.key and not self._holders(slot.key):
            self._gone[slot.key] = reason
            self._gone.move_to_end(slot.key)
            while len(self._gone) > REMEMBERED_CONVERSATIONS:
                self._gone.popitem(last=False)
        return slot

    def _holders(self, key: str) -> list[Slot]:
        return [s for s in self._slots.values() if s.key == key]

    # --- the request path -----------------------------------------------------------------

    def learn(self, signature: Signature) -> None:
        """A request with this signature arrived: the warm pool follows the recent ones."""
        self._recent[signature.key] = signature
        self._recent.move_to_end(signature.key)
        while len(self._recent) > RECENT_SIGNATURES:
            self._recent.popitem(last=False)

    def signature_of(self, key: str) -> Signature | None:
        """A recently requested signature, by key."""
        return self._recent.get(key)

    def arrive(self, signature: Signature, now: float) -> None:
        """A new conversation of this signature needs a process (not a live turn)."""
        self.demand.arrive(signature.key, now)

    def plan(
        self, signature: Signature, key: str, turns: list[Turn], fits: bool, now: float
    ) -> Plan:
        reason = ""
        if key and len(turns) > 1 and self.limits.max_idle > 0:
            slot, reason = self._live(signature, key, turns, fits, now)
            if slot is not None:
                return Plan(LIVE, slot, turns[len(slot.held) :])
        ready = [s for s in self._unclaimed(ChildState.READY) if s.signature == signature]
        if ready:
            return Plan(WARM, min(ready, key=lambda s: s.born), turns, reason)
        starting = [s for s in self._unclaimed(ChildState.STARTING) if s.signature == signature]
        if starting:  # the oldest start is the furthest along: claimed, not another started
            return Plan(WARM, min(starting, key=lambda s: s.born), turns, reason)
        return Plan(COLD, None, turns, reason)

    def _live(
        self, signature: Signature, key: str, turns: list[Turn], fits: bool, now: float
    ) -> tuple[Slot | None, str]:
        parked = [s for s in self.slots(ChildState.PARKED, ChildState.AWAITING) if s.key == key]
        if not parked:
            return None, self._gone.get(key, "unknown")
        reason = "edited"
        for slot in sorted(parked, key=lambda s: -len(s.held)):
            if not extends(turns, slot.held) or not answers(turns[len(slot.held) :], slot):
                continue
            if slot.signature != signature:
                reason = "signature"
            elif not fits:
                reason = "budget"
            elif now - slot.born > self.limits.max_age_s:
                reason = "expired"
            else:
                return slot, ""
        return None, reason

    def take(self, slot: Slot, key: str, now: float) -> None:
        """READY, PARKED or AWAITING -> RUNNING for the conversation `key`."""
        slot.state = ChildState.RUNNING
        slot.key = key
        slot.since = now
        slot.claimed = False

    def park(
        self, pid: int, held: list[Turn], now: float, awaiting: tuple[str, ...] = ()
    ) -> list[Slot]:
        """RUNNING -> PARKED holding `held` (AWAITING with tool calls out); returns the
        processes that must go to make room."""
        slot = self._slots[pid]
        slot.state = ChildState.AWAITING if awaiting else ChildState.PARKED
        slot.held = held
        slot.awaiting = awaiting
        slot.since = now
        superseded = [
            s
            for s in self.slots(ChildState.PARKED, ChildState.AWAITING)
            if s.key == slot.key and s is not slot
        ]
        return superseded + [s for s in self.over_capacity() if s not in superseded]

    # --- the warm pool --------------------------------------------------------------------

    def warm_targets(self, now: float) -> dict[str, int]:
        """Warm processes wanted per signature key: the floor shared among the most recent
        signatures, or each one's demand if more, within the ceiling (most recent first)."""
        floor = self.limits.warm_target
        recent = [
            sig
            for sig in reversed(self._recent.values())
            if self._fallbacks.get(sig.key, 0.0) <= now
        ]
        sharing = recent[:floor]
        shares = Counter(sharing[n % len(sharing)].key for n in range(floor)) if sharing else {}
        # Beyond the floor, demand takes only the room parked conversations leave.
        free = self.limits.max_idle - len(self.slots(ChildState.PARKED))
        room = max(0, min(self.ceiling, max(floor, free)))
        targets = {}
        for sig in recent:
            wanted = max(shares.get(sig.key, 0), self.demand.wanted(sig.key, now, self.start_s))
            targets[sig.key] = min(wanted, room)
            room -= targets[sig.key]
        return {key: n for key, n in targets.items() if n > 0}

    def warm_wanted(self, now: float) -> list[Signature]:
        """Signatures to start a warm process for, most wanted first (round robin)."""
        targets = self.warm_targets(now)
        have = Counter(s.signature.key for s in self.warm())
        missing = {key: n - have[key] for key, n in targets.items() if n > have[key]}
        wanted: list[Signature] = []
        while missing:
            for key in list(missing):
                wanted.append(self._recent[key])
                missing[key] -= 1
                if not missing[key]:
                    del missing[key]
        return wanted

    def warm(self) -> list[Slot]:
        """Warm processes: ready or starting, not promised to a request."""
        return self._unclaimed(ChildState.STARTING, ChildState.READY)

    def surplus(self, now: float) -> list[Slot]:
        """Ready processes beyond their signature's target that have idled `warm_idle_s`, or
        whose signature had no new conversation for that long: their memory comes back."""
        targets = self.warm_targets(now)
        idle_s = self.limits.warm_idle_s
        have = Counter(s.signature.key for s in self.warm())
        found = []
        for key, count in have.items():
            last = self.demand.last(key)
            quiet = last is None or now - last >= idle_s
            ready = [s for s in self._lru(ChildState.READY) if s.signature.key == key]
            excess = ready[: max(0, count - targets.get(key, 0))]
            found += [s for s in excess if not s.claimed and (quiet or now - s.since >= idle_s)]
        return found

    def _unclaimed(self, *states: ChildState) -> list[Slot]:
        return [s for s in self.slots(*states) if not s.claimed]

    def room_for_warm(self) -> list[Slot] | None:
        """Parked processes to evict so one more warm process fits; None when none can."""
        idle = self._unclaimed(ChildState.STARTING, ChildState.READY, ChildState.PARKED)
        if len(idle) < self.limits.max_idle:
            return []
        parked = self._lru(ChildState.PARKED)
        excess = len(parked) - self.limits.parked_room
        need = len(idle) + 1 - self.limits.max_idle
        return parked[:need] if 0 < need <= excess else None

    def fall_back(self, signature: Signature, now: float) -> bool:
        """Its warm process failed: cold spawns only for a while. True when newly so."""
        fresh = self._fallbacks.get(signature.key, 0.0) <= now
        self._fallbacks[signature.key] = now + self.limits.warm_max_age_s
        return fresh

    def fallbacks(self, now: float) -> list[str]:
        return sorted(key for key, until in self._fallbacks.items() if until > now)

    # --- limits ---------------------------------------------------------------------------

    def expired(self, now: float) -> list[tuple[Slot, str]]:
        """Idle processes past their limits, with the reason."""
        limits = self.limits
        found = []
        for slot in self.slots(ChildState.READY):
            if now - slot.born > limits.warm_max_age_s:
                found.append((slot, "warm_age"))
        for slot in self.slots(ChildState.AWAITING):
            if now - slot.since > limits.tool_result_timeout_s:
                found.append((slot, "tool_timeout"))
        for slot in self.slots(ChildState.PARKED):
            if now - slot.since > limits.conversation_idle_s:
                found.append((slot, "conversation_idle"))
            elif now - slot.born > limits.max_age_s:
                found.append((slot, "age"))
        return found

    def over_capacity(self) -> list[Slot]:
        """Idle processes beyond `max_idle`: parked ones beyond their room first, then warm
        (ready, then starting)."""
        idle = len(self._unclaimed(ChildState.STARTING, ChildState.READY, ChildState.PARKED))
        excess = idle - self.limits.max_idle
        if excess <= 0:
            return []
        parked = self._lru(ChildState.PARKED)
        warm = [s for s in self._lru(ChildState.READY) + self._lru(ChildState.STARTING)]
        first = parked[: max(0, len(parked) - self.limits.parked_room)]
        order = first + [s for s in warm if not s.claimed] + [s for s in parked if s not in first]
        return order[:excess]

    def _lru(self, state: ChildState) -> list[Slot]:
        return sorted(self.slots(state), key=lambda s: s.since)


def answers(new: list[Turn], slot: Slot) -> bool:
    """A process waiting on tool calls continues only with exactly their results."""
    if not slot.awaiting:
        return True
    if len(new) != 1 or any(b.get("type") != "tool_result" for b in new[0].blocks):
        return False
    ids = [str(b.get("tool_use_id")) for b in new[0].blocks]
    return sorted(ids) == sorted(slot.awaiting)


def extends(turns: list[Turn], held: list[Turn]) -> bool:
    """`turns` is exactly `held` followed by at least one new user turn."""
    if not held or len(turns) <= len(held):
        return False
    return turns[: len(held)] == held and turns[len(held)].role == "user"
