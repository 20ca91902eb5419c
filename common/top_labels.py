"""Pure: figures by label kept to a bounded number of series (issue 21, item 10).

A label value a client chooses (its `X-Source`, a model id) must not grow the controller's
memory, /metrics or the Prometheus series without bound. Two tools:

- `TopCounter`, for a counter kept in memory: at most `cap` labels of their own plus OTHER.
- `shown_labels` and `fold`, for figures read whole (the database's per-model totals): the
  labels that always stand alone, the `cap` largest others, and the rest under OTHER.

Either way the sum over all series stays exact: folding moves counts, it never drops them.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator, Mapping

OTHER = "other"
"""The series every label beyond the cap is counted under (a real label "other" joins it)."""
DEFAULT_LABEL_CAP = 50


class TopCounter(Mapping[str, int]):
    """Counts by label with at most `cap` labels of their own, plus OTHER once one was folded.

    When full, a new label takes the place of the least counted one (the longest there on a
    tie), whose count moves to OTHER: a label that keeps coming climbs above the one-off ones
    and stays. Its own figure counts from when it last came in; the total is always exact."""

    def __init__(self, cap: int = DEFAULT_LABEL_CAP) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self.cap = cap
        self._counts: dict[str, int] = {}
        self._other = 0

    def add(self, label: str, n: int = 1) -> None:
        if label == OTHER:
            self._other += n
        elif label in self._counts:
            self._counts[label] += n
        else:
            if len(self._counts) >= self.cap:
                least = min(self._counts, key=self._counts.__getitem__)
                self._other += self._counts.pop(least)
            self._counts[label] = n

    def __getitem__(self, label: str) -> int:
        if label == OTHER and self._other:
            return self._other
        return self._counts[label]

    def __iter__(self) -> Iterator[str]:
        yield from self._counts
        if self._other:
            yield OTHER

    def __len__(self) -> int:
        return len(self._counts) + (1 if self._other else 0)


def shown_labels(counts: Mapping[str, int], cap: int, always: Collection[str] = ()) -> set[str]:
    """The labels with a series of their own: those in `always` that have figures, and the
    `cap` largest of the others (ties by name, so the choice does not flicker)."""
    kept = {label for label in counts if label in always}
    if len(counts) - len(kept) <= cap:
        return set(counts)
    others = (label for label in counts if label not in kept)
    return kept | set(heapq.nsmallest(cap, others, key=lambda k: (-counts[k], k)))


def fold(label: str, shown: Collection[str]) -> str:
    """The series `label` is counted under."""
    return label if label in shown else OTHER
