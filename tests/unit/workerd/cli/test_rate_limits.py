"""workerd/cli/rate_limits.py: the CLI's rate_limit_event as quota windows, as the CLIs send it."""

from __future__ import annotations

from typing import Any

from protos import common_pb2 as pb
from workerd.cli.rate_limits import is_plain_rate_limit, quota_report, retry_delay_ms

NOW = 1_796_600_000.0
# As CLI 2.1.332 sent them against the mock upstream (docs/claude-cli.md, "Quota windows").
BELOW: dict[str, Any] = {
    "status": "allowed",
    "resetsAt": 1796609073,
    "rateLimitType": "five_hour",
    "overageStatus": "rejected",
    "isUsingOverage": False,
    "unifiedWindows": {
        "five_hour": {"utilization": 0.3, "resetsAt": 1796609073, "status": "allowed"},
        "seven_day": {"utilization": 0.2, "resetsAt": 1796864673, "status": "allowed"},
    },
}
ABOVE: dict[str, Any] = {
    "status": "allowed_warning",
    "resetsAt": 1796609073,
    "rateLimitType": "five_hour",
    "utilization": 0.95,
    "surpassedThreshold": 0.9,
    "unifiedWindows": {
        "five_hour": {
            "utilization": 0.95,
            "resetsAt": 1796609073,
            "status": "allowed_warning",
            "surpassedThreshold": 0.9,
        },
        "seven_day": {"utilization": 0.5, "resetsAt": 1796864673, "status": "allowed"},
    },
}
REFUSED: dict[str, Any] = {
    "status": "rejected",
    "resetsAt": 1796605888,
    "rateLimitType": "five_hour",
    "unifiedWindows": {"five_hour": {"utilization": 1, "resetsAt": 1796605888}},
}
PLAIN_429: dict[str, Any] = {"status": "rejected", "isUsingOverage": False}  # [197, 332]


def windows(report: pb.RateLimitStatus | None) -> dict[str, tuple[str, float | None, int]]:
    assert report is not None
    return {
        w.window: (w.status, w.utilization if w.utilization_known else None, w.resets_at)
        for w in report.windows
    }


def test_below_warning_the_new_cli_gives_every_figure() -> None:
    report = quota_report(BELOW, NOW)
    assert windows(report) == {
        "five_hour": ("allowed", 0.3, 1796609073),
        "seven_day": ("allowed", 0.2, 1796864673),
    }
    assert report is not None and report.complete and report.status == "allowed"


def test_above_warning_every_window_with_its_threshold() -> None:
    report = quota_report(ABOVE, NOW)
    assert windows(report) == {
        "five_hour": ("allowed_warning", 0.95, 1796609073),
        "seven_day": ("allowed", 0.5, 1796864673),
    }
    assert report is not None and report.windows[0].surpassed_threshold == 0.9
    assert all(w.seen_at == NOW for w in report.windows)


def test_a_refused_window_without_its_own_status_takes_the_events() -> None:
    assert windows(quota_report(REFUSED, NOW)) == {"five_hour": ("rejected", 1.0, 1796605888)}


def test_the_older_cli_names_one_window() -> None:
    below = quota_report({"status": "allowed", "resetsAt": 5, "rateLimitType": "five_hour"}, NOW)
    assert windows(below) == {"five_hour": ("allowed", None, 5)}
    assert below is not None and below.complete
    warned = {**ABOVE}
    del warned["unifiedWindows"]
    assert windows(quota_report(warned, NOW)) == {
        "five_hour": ("allowed_warning", 0.95, 1796609073)
    }


def test_a_plain_rate_limit_is_no_refused_window() -> None:
    assert is_plain_rate_limit(PLAIN_429)
    assert quota_report(PLAIN_429, NOW) is None
    assert not is_plain_rate_limit(REFUSED)


def test_retry_delay_of_a_429_retry_only() -> None:
    line = {"type": "system", "subtype": "api_retry", "retry_delay_ms": 3116}
    assert retry_delay_ms({**line, "error_status": 429, "error": "rate_limit"}) == 3116
    assert retry_delay_ms({**line, "error_status": 529, "error": "server_error"}) == 0
    assert retry_delay_ms({**line, "error_status": 429, "retry_delay_ms": -1}) == 0
