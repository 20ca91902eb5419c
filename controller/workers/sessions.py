"""Pure: how a worker's CLI turns were served, and the state of its warm and parked processes.

workerd reports one `SessionInfo` per CLI turn (live, warm or cold, and why a conversation had
to be rebuilt) and, in its Status, how many processes it holds warm or parked and their memory,
and how it sizes its pool of ready processes (`PoolFigures`, issue 22).
The controller keeps both per worker here, on the worker's handle; nothing is shared between
workers and nothing is global. Counts start at zero when the controller starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from protos import common_pb2 as pb
from protos import worker_pb2

SERVED = ("live", "warm", "cold")
"""How a turn was served: the conversation's held process, a pool process, a cold spawn."""
REBUILD_REASONS = (
    "edited",
    "signature",
    "budget",
    "failed",
    "evicted",
    "expired",
    "gone",
    "unknown",
)
"""Why a conversation with history could not be continued in its held process."""
MAX_LABEL = 32  # a reported value longer than this is cut: it becomes a metric label


def _label(value: str) -> str:
    return value.strip()[:MAX_LABEL]


def _with_known(known: Iterable[str], counts: Mapping[str, int]) -> dict[str, int]:
    """Every known key (zero when unseen), then any other key that was counted."""
    shown = {key: counts.get(key, 0) for key in known}
    shown.update({key: n for key, n in sorted(counts.items()) if key not in shown})
    return shown


@dataclass
class SessionCounts:
    """Turns one worker served, by how, and conversations it rebuilt, by reason."""

    served: dict[str, int] = field(default_factory=dict)
    rebuilds: dict[str, int] = field(default_factory=dict)

    def note(self, info: pb.SessionInfo) -> None:
        served, reason = _label(info.served), _label(info.rebuild_reason)
        if served:
            self.served[served] = self.served.get(served, 0) + 1
        if reason:
            self.rebuilds[reason] = self.rebuilds.get(reason, 0) + 1

    def served_json(self) -> dict[str, int]:
        return _with_known(SERVED, self.served)

    def rebuilds_json(self) -> dict[str, int]:
        return _with_known(REBUILD_REASONS, self.rebuilds)


def emptied(figures: pb.PoolFigures) -> pb.PoolFigures:
    """A pool's sizing once its workerd stopped answering: nothing is held, started or aimed for
    any more; the floor, the ceiling, the budget and the claims so far stay as last said."""
    kept = _copy(figures)
    kept.target = kept.ready = kept.starting = kept.memory_bytes = 0
    return kept


@dataclass(frozen=True)
class PoolState:
    """What a workerd's last Status said about its CLI processes."""

    cli_version: str = ""
    warm: int = 0
    parked: int = 0
    running: int = 0
    idle_rss_bytes: int = 0
    warm_fallbacks: tuple[str, ...] = ()
    # The CLI pool's sizing as its workerd last said (never changed in place); None: its workerd
    # reports no pool (api mode, or older).
    sizing: pb.PoolFigures | None = None

    @classmethod
    def from_status(cls, status: worker_pb2.WorkerStatus) -> PoolState:
        return cls(
            cli_version=status.cli_version,
            warm=status.warm,
            parked=status.parked,
            running=status.running,
            idle_rss_bytes=status.idle_rss_bytes,
            warm_fallbacks=tuple(status.warm_fallbacks),
            sizing=_copy(status.pool) if status.HasField("pool") else None,
        )

    def gone(self) -> PoolState:
        """The workerd stopped answering: it holds no process any more. Its version and its
        fallbacks stay (a new incarnation's Status replaces them; an old one's are not news), and
        so does its pool's sizing, emptied."""
        return PoolState(
            cli_version=self.cli_version,
            warm_fallbacks=self.warm_fallbacks,
            sizing=emptied(self.sizing) if self.sizing else None,
        )


def _copy(figures: pb.PoolFigures) -> pb.PoolFigures:
    kept = pb.PoolFigures()
    kept.CopyFrom(figures)
    return kept


def new_fallbacks(before: Iterable[str], after: Iterable[str]) -> list[str]:
    """Signatures in `after` that `before` did not have, in `after`'s order."""
    seen = set(before)
    return [signature for signature in after if signature not in seen]
