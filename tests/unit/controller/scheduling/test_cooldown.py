"""controller/scheduling/cooldown.py: an account that reports a limit rests until it comes back."""

from __future__ import annotations

import pytest

from controller.scheduling.cooldown import (
    DEFAULT_ESTIMATE_S,
    ESTIMATES_S,
    MAX_GUESS_S,
    Cooldown,
    CooldownBook,
    Rest,
    rest_for,
)

NOW = 1_700_000_000.0


# -- rest_for ----------------------------------------------------------------------------------


def test_reported_reset_wins() -> None:
    rest = rest_for("rate limited", NOW + 120, 30.0, NOW)
    assert rest.seconds == pytest.approx(120.0)
    assert rest.basis == "reset"


def test_a_reported_reset_is_honoured_however_far_ahead() -> None:
    five_days = 5 * 86400.0
    rest = rest_for("usage limit reached", NOW + five_days, 0.0, NOW)
    assert rest == Rest(five_days, "reset")  # a weekly refusal lasts until its reset
    assert rest.seconds > MAX_GUESS_S


def test_retry_after_when_no_reset_ahead() -> None:
    assert rest_for("rate limited", 0.0, 30.0, NOW) == Rest(30.0, "retry_after")
    assert rest_for("rate limited", NOW - 5, 30.0, NOW) == Rest(30.0, "retry_after")  # past
    assert rest_for("rate limited", NOW, 30.0, NOW) == Rest(30.0, "retry_after")  # not ahead


def test_estimate_by_kind_when_neither_is_given() -> None:
    assert rest_for("rate limited", 0.0, 0.0, NOW) == Rest(60.0, "estimate")
    assert rest_for("overloaded", 0.0, -3.0, NOW) == Rest(15.0, "estimate")
    assert rest_for("credential refused", 0.0, 0.0, NOW) == Rest(300.0, "estimate")
    assert rest_for("something new", 0.0, 0.0, NOW) == Rest(DEFAULT_ESTIMATE_S, "estimate")
    assert all(s <= MAX_GUESS_S for s in ESTIMATES_S.values())


def test_rest_is_at_least_one_second() -> None:
    assert rest_for("rate limited", NOW + 0.2, 0.0, NOW).seconds == 1.0
    assert rest_for("rate limited", 0.0, 0.01, NOW).seconds == 1.0


def test_only_guesses_are_bounded() -> None:
    assert MAX_GUESS_S == 6 * 3600
    assert rest_for("rate limited", 0.0, 1e9, NOW) == Rest(MAX_GUESS_S, "retry_after")
    assert rest_for("rate limited", NOW + 1e9, 0.0, NOW).seconds == 1e9


# -- Cooldown ----------------------------------------------------------------------------------


def test_fresh_cooldown_is_inactive() -> None:
    state = Cooldown()
    assert not state.active(0.0)
    assert state.remaining_s(NOW) == 0.0
    assert state.basis == ""


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


def test_the_basis_is_kept_with_the_longest_rest_and_cleared_at_the_end() -> None:
    book = CooldownBook()
    book.start("1", 300.0, "usage limit reached", NOW, "reset")
    book.start("1", 10.0, "overloaded", NOW + 5, "estimate")
    assert (book.of("1").reason, book.of("1").basis) == ("usage limit reached", "reset")
    assert book.ended(NOW + 300) == ["1"]
    assert book.of("1").basis == ""
