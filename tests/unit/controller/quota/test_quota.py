"""controller/quota/windows.py, controller/quota/strategy.py, workerd/api/quota_headers.py and
the CLI's rate_limit_event: windows read, kept, compared. Pure, with fixed clocks."""

from __future__ import annotations

import time

import pytest

from controller.quota.strategy import quota_key
from controller.quota.windows import UNKNOWN_PRESSURE, QuotaBook, WindowState, headroom_of
from frontdoor.monitoring.prometheus import render
from protos import common_pb2 as pb
from protos import controller_pb2 as cpb
from tests.mock_upstream import api_key_headers, unified_headers
from workerd.api.quota_headers import quota_report
from workerd.cli.stream_json import StreamJsonParser

NOW = 1_800_000_000.0


def cli_event(info: dict[str, object]) -> pb.RateLimitStatus:
    parser = StreamJsonParser(tools_allowed=False, now_ms=lambda: int(NOW * 1000))
    (event,) = parser.feed({"type": "rate_limit_event", "rate_limit_info": info})
    return event.rate_limit


# -- reading: the CLI --------------------------------------------------------------------------


def test_a_cli_warning_carries_its_window_and_figure() -> None:
    report = cli_event(
        {
            "status": "allowed_warning",
            "resetsAt": int(NOW) + 3600,
            "rateLimitType": "five_hour",
            "utilization": 0.93,
            "surpassedThreshold": 0.9,
        }
    )
    (window,) = report.windows
    assert (window.window, window.status) == ("five_hour", "allowed_warning")
    assert window.utilization == pytest.approx(0.93)
    assert window.utilization_known and window.resets_at == int(NOW) + 3600
    assert window.surpassed_threshold == pytest.approx(0.9)
    assert window.seen_at == NOW
    assert not report.complete


def test_a_plain_cli_allowed_means_below_warning_everywhere() -> None:
    # As the pinned CLI reported 0.12: status allowed, the representative window, no figure.
    report = cli_event(
        {"status": "allowed", "resetsAt": int(NOW) + 60, "rateLimitType": "five_hour"}
    )
    (window,) = report.windows
    assert not window.utilization_known
    assert report.complete
    book = QuotaBook()
    book.note(
        "1",
        cli_event(
            {
                "status": "allowed_warning",
                "rateLimitType": "seven_day",
                "utilization": 0.8,
                "resetsAt": int(NOW) + 86400,
            }
        ),
        NOW,
    )
    book.note("1", report, NOW + 1)
    states = {w.window: w for w in book.windows("1", NOW + 1)}
    assert states["five_hour"].utilization is None and states["five_hour"].status == "allowed"
    assert states["seven_day"].utilization is None  # no longer warning: below its threshold
    assert states["seven_day"].resets_at == NOW + 86400


def test_a_cli_event_without_a_window_changes_nothing() -> None:
    book = QuotaBook()
    assert book.note("1", cli_event({"status": "allowed"}), NOW) == []
    assert book.windows("1", NOW) == []


# -- reading: api workers' headers -------------------------------------------------------------


def test_unified_headers_give_every_window() -> None:
    headers = unified_headers(0.93, int(NOW) + 3600, 0.4, int(NOW) + 86400)
    report = quota_report(headers, NOW)
    assert report is not None and report.complete
    got = {w.window: (w.status, round(w.utilization, 2), w.resets_at) for w in report.windows}
    assert got == {
        "five_hour": ("allowed_warning", 0.93, int(NOW) + 3600),
        "seven_day": ("allowed", 0.4, int(NOW) + 86400),
    }
    assert (report.status, report.limit_type) == ("allowed", "five_hour")


def test_a_refusal_in_unified_headers() -> None:
    headers = unified_headers(1.0, int(NOW) + 600, status="rejected")
    report = quota_report(headers, NOW)
    assert report is not None
    assert report.status == "rejected"
    assert report.windows[0].status == "rejected"


def test_api_key_headers_give_per_minute_windows() -> None:
    report = quota_report(api_key_headers(50, 10, 1000, 900), NOW)
    assert report is not None
    got = {w.window: round(w.utilization, 2) for w in report.windows}
    assert got == {"requests": 0.8, "tokens": 0.1}
    assert report.limit_type == "requests"
    assert all(w.resets_at > time.time() for w in report.windows)  # RFC 3339, a minute ahead


def test_no_rate_limit_headers_no_report() -> None:
    assert quota_report({"request-id": "x", "content-type": "text/event-stream"}, NOW) is None


# -- keeping -----------------------------------------------------------------------------------


def state(
    window: str, used: float | None, resets_in: float, status: str = "allowed"
) -> WindowState:
    return WindowState(window, status, used, NOW + resets_in if resets_in else 0.0, NOW)


def test_a_window_past_its_reset_reads_as_fresh() -> None:
    book = QuotaBook()
    book.load("1", [state("five_hour", 0.9, 60, "allowed_warning")])
    (before,) = book.windows("1", NOW)
    (after,) = book.windows("1", NOW + 61)
    assert before.utilization == 0.9
    assert (after.utilization, after.status, after.resets_at) == (0.0, "allowed", 0.0)


def test_load_never_replaces_a_newer_report() -> None:
    book = QuotaBook()
    book.note(
        "1",
        pb.RateLimitStatus(
            windows=[
                pb.QuotaWindow(
                    window="five_hour",
                    status="allowed",
                    utilization=0.3,
                    utilization_known=True,
                    seen_at=NOW,
                )
            ]
        ),
        NOW,
    )
    book.load("1", [WindowState("five_hour", "allowed", 0.9, 0.0, NOW - 100)])
    assert book.windows("1", NOW)[0].utilization == 0.3


# -- comparing ---------------------------------------------------------------------------------


def test_the_binding_window_is_the_most_used() -> None:
    room = headroom_of([state("five_hour", 0.2, 3600), state("seven_day", 0.6, 86400)])
    assert (room.window, room.utilization, room.resets_at) == ("seven_day", 0.6, NOW + 86400)
    assert room.soonest_reset == NOW + 3600


def test_below_warning_and_unknown_count_as_the_middle() -> None:
    assert headroom_of([]).pressure == UNKNOWN_PRESSURE
    assert headroom_of([state("five_hour", None, 60)]).pressure == UNKNOWN_PRESSURE
    assert headroom_of([state("seven_day", None, 60, "rejected")]).pressure == 1.0


def test_strategies_order_accounts() -> None:
    busy = headroom_of([state("five_hour", 0.7, 1800)])
    idle = headroom_of([state("five_hour", 0.1, 3 * 3600)])
    full = headroom_of([state("five_hour", 0.97, 60)])
    assert quota_key("headroom", idle, 0.95) > quota_key("headroom", busy, 0.95)
    assert quota_key("drain-first", busy, 0.95) > quota_key("drain-first", idle, 0.95)
    assert quota_key("spread", busy, 0.95) == quota_key("spread", idle, 0.95)
    for strategy in ("headroom", "drain-first", "spread"):
        assert quota_key(strategy, full, 0.95) < quota_key(strategy, busy, 0.95)


# -- showing -----------------------------------------------------------------------------------


def test_prometheus_gauges_per_worker_and_window() -> None:
    quota = [
        pb.QuotaWindow(
            window="five_hour",
            utilization=0.93,
            utilization_known=True,
            resets_at=1800003600,
            status="allowed_warning",
        ),
        pb.QuotaWindow(window="seven_day", resets_at=1800086400, status="allowed"),
    ]
    text = render(cpb.StatsSnapshot(workers=[cpb.WorkerInfo(name="1", quota=quota)]))
    assert 'ccproxy_account_utilization{worker="1",window="five_hour"} 0.93' in text
    assert 'window="seven_day"} ' not in text.split("ccproxy_account_resets_at_seconds")[0]
    assert 'ccproxy_account_resets_at_seconds{worker="1",window="seven_day"} 1800086400' in text
