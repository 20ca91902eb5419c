"""controller/cooldown.py: an account that reports a limit rests until its reset, bounded."""

from __future__ import annotations

import pytest

from controller.cooldown import (
    DEFAULT_COOLDOWN_S,
    MAX_COOLDOWN_S,
    Cooldown,
    CooldownBook,
    cooldown_seconds,
)

NOW = 1_700_000_000.0


# -- cooldown_seconds --------------------------------------------------------------------------


def test_reported_reset_wins() -> None:
    assert cooldown_seconds(NOW + 120, 30.0, NOW, 60.0) == pytest.approx(120.0)


def test_retry_after_when_no_reset_ahead() -> None:
    assert cooldown_seconds(0.0, 30.0, NOW, 60.0) == 30.0
    assert cooldown_seconds(NOW - 5, 30.0, NOW, 60.0) == 30.0  # a reset in the past is ignored
    assert cooldown_seconds(NOW, 30.0, NOW, 60.0) == 30.0  # a reset now is not ahead


def test_default_when_neither_is_given() -> None:
    assert cooldown_seconds(0.0, 0.0, NOW, DEFAULT_COOLDOWN_S) == DEFAULT_COOLDOWN_S
    assert cooldown_seconds(0.0, -3.0, NOW, 15.0) == 15.0
    assert DEFAULT_COOLDOWN_S == 60.0


def test_rest_is_at_least_one_second() -> None:
    assert cooldown_seconds(NOW + 0.2, 0.0, NOW, 60.0) == 1.0
    assert cooldown_seconds(0.0, 0.01, NOW, 60.0) == 1.0
    assert cooldown_seconds(0.0, 0.0, NOW, 0.0) == 1.0


def test_rest_is_at_most_the_maximum() -> None:
    assert MAX_COOLDOWN_S == 6 * 3600
    assert cooldown_seconds(NOW + 7 * 86400, 0.0, NOW, 60.0) == MAX_COOLDOWN_S
    assert cooldown_seconds(0.0, 1e9, NOW, 60.0) == MAX_COOLDOWN_S
    assert cooldown_seconds(0.0, 0.0, NOW, 1e9) == MAX_COOLDOWN_S
    assert cooldown_seconds(NOW + MAX_COOLDOWN_S, 0.0, NOW, 60.0) == MAX_COOLDOWN_S


# -- Cooldown ----------------------------------------------------------------------------------


def test_fresh_cooldown_is_inactive() -> None:
    state = Cooldown()
    assert not state.active(0.0)
    assert state.remaining_s(NOW) == 0.0
    assert state.quota_status == ""


def test_cooldown_is_active_until_but_not_at_its_end() -> None:
    state = Cooldown(until=100.0)
    assert state.active(99.999)
    assert not state.active(100.0)
    assert state.remaining_s(40.0) == 60.0
    assert state.remaining_s(150.0) == 0.0


# -- CooldownBook ------------------------------------------------------------------------------


def test_unknown_worker_is_not_cooling() -> None:
    book = CooldownBook()
    assert not book.of("1").active(NOW)
    assert book.earliest_end(NOW) is None
    assert book.ended(NOW) == []


def test_start_cools_the_worker_and_reports_new_rests() -> None:
    book = CooldownBook()
    assert book.start("1", 30.0, "usage limit reached", NOW) is True
    state = book.of("1")
    assert state.active(NOW)
    assert state.active(NOW + 29.9)
    assert not state.active(NOW + 30.0)
    assert state.reason == "usage limit reached"
    assert state.remaining_s(NOW + 10) == pytest.approx(20.0)
    assert not book.of("2").active(NOW)
    # Already resting: not a new cooldown.
    assert book.start("1", 10.0, "overloaded", NOW + 1) is False


def test_start_never_shortens_a_longer_rest_but_extends_a_shorter_one() -> None:
    book = CooldownBook()
    book.start("1", 300.0, "usage limit reached", NOW)
    book.start("1", 10.0, "overloaded", NOW + 5)
    assert book.of("1").until == NOW + 300.0
    book.start("1", 600.0, "usage limit reached", NOW + 5)
    assert book.of("1").until == NOW + 605.0


def test_ended_reports_each_worker_once_and_it_serves_again() -> None:
    book = CooldownBook()
    book.start("1", 10.0, "rate limited", NOW)
    book.start("2", 20.0, "rate limited", NOW)
    assert book.ended(NOW + 9.9) == []
    assert book.ended(NOW + 10.0) == ["1"]
    assert book.ended(NOW + 10.0) == []  # once
    assert not book.of("1").active(NOW + 10.0)
    assert book.of("1").reason == ""
    assert book.of("2").active(NOW + 10.0)
    assert book.ended(NOW + 100.0) == ["2"]
    assert book.ended(NOW + 200.0) == []


def test_ended_after_a_fresh_rest_reports_again() -> None:
    book = CooldownBook()
    book.start("1", 5.0, "rate limited", NOW)
    assert book.ended(NOW + 5) == ["1"]
    assert book.start("1", 5.0, "rate limited", NOW + 6) is True
    assert book.ended(NOW + 11) == ["1"]


def test_start_after_the_rest_ran_out_is_new_even_before_ended_is_called() -> None:
    book = CooldownBook()
    book.start("1", 5.0, "rate limited", NOW)
    assert book.start("1", 5.0, "rate limited", NOW + 10) is True
    assert book.of("1").until == NOW + 15


def test_earliest_end_among_active_rests() -> None:
    book = CooldownBook()
    book.start("1", 100.0, "rate limited", NOW)
    book.start("2", 40.0, "rate limited", NOW)
    book.start("3", 70.0, "rate limited", NOW)
    assert book.earliest_end(NOW) == NOW + 40.0
    assert book.earliest_end(NOW + 50) == NOW + 70.0  # 2 is over
    assert book.earliest_end(NOW + 100) is None


def test_note_quota_keeps_the_status_without_cooling() -> None:
    book = CooldownBook()
    book.note_quota("1", "allowed_warning", NOW + 3600)
    state = book.of("1")
    assert state.quota_status == "allowed_warning"
    assert state.quota_resets_at == NOW + 3600
    assert not state.active(NOW)
    assert book.earliest_end(NOW) is None
    assert book.ended(NOW) == []
    book.note_quota("1", "rejected", NOW + 60)
    assert state.quota_status == "rejected"
    assert not state.active(NOW)  # only start() makes a worker rest


def test_note_quota_does_not_disturb_a_rest() -> None:
    book = CooldownBook()
    book.start("1", 60.0, "usage limit reached", NOW)
    book.note_quota("1", "allowed", 0.0)
    assert book.of("1").active(NOW + 30)
    assert book.of("1").reason == "usage limit reached"
    assert book.of("1").quota_status == "allowed"
