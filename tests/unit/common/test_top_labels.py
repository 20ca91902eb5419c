"""common/top_labels.py: figures by label kept to a bounded number of series, sums exact."""

from __future__ import annotations

import pytest

from common.top_labels import OTHER, TopCounter, fold, shown_labels


def test_a_counter_keeps_cap_labels_and_folds_the_rest_exactly() -> None:
    counter = TopCounter(cap=3)
    for n in range(50_000):
        counter.add(f"source-{n}")
    assert len(counter) == 4  # three of their own and "other"
    assert sum(counter.values()) == 50_000
    assert counter[OTHER] == 50_000 - 3


def test_a_label_that_keeps_coming_stays_above_one_off_labels() -> None:
    counter = TopCounter(cap=2)
    for n in range(1_000):
        counter.add("busy")
        counter.add(f"once-{n}")
    assert counter["busy"] == 1_000
    assert sum(counter.values()) == 2_000
    assert set(counter) == {"busy", "once-999", OTHER}


def test_the_least_counted_label_gives_way_its_count_moving_to_other() -> None:
    counter = TopCounter(cap=2)
    counter.add("a", 5)
    counter.add("b", 2)
    counter.add("c")
    assert dict(counter) == {"a": 5, "c": 1, OTHER: 2}


def test_a_small_counter_is_a_plain_mapping_without_other() -> None:
    counter = TopCounter()
    counter.add("c")
    counter.add("c")
    assert counter == {"c": 2}
    assert OTHER not in counter
    counter.add(OTHER)  # a client's own "other" joins the folded series, taking no place
    assert counter == {"c": 2, OTHER: 1}


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        TopCounter(cap=0)


def test_shown_labels_are_the_always_ones_and_the_largest_others() -> None:
    counts = {"sonnet": 1, "x": 10, "y": 10, "z": 3, "w": 2, "alias": 0}
    shown = shown_labels(counts, cap=2, always={"sonnet", "alias", "absent"})
    assert shown == {"sonnet", "alias", "x", "y"}  # "absent" has no figures: no series
    assert [fold(label, shown) for label in ("x", "z", "w")] == ["x", OTHER, OTHER]
    assert shown_labels(counts, cap=2) == {"x", "y"}  # ties by name: stable
