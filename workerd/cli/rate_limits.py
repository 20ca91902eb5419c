"""Pure: the CLI's `rate_limit_event` as the account's quota windows (docs/claude-cli.md,
"Quota windows").

Every version names one window at a time (`rateLimitType`), with a figure only past a warning
threshold. 2.1.332 adds `unifiedWindows`: every window the upstream reported, each with its
utilisation and reset, below the warning threshold too: real figures, as api workers have.
A plain rate limit (a 429 with only `retry-after`) comes as `status: "rejected"` naming no window
and no reset [197, 332]: that is not a refused usage window, and gives no report; the rest is the
retry delay the CLI announced (`system/api_retry`), which follows the upstream's `retry-after`.
"""

from __future__ import annotations

from typing import Any

from protos import common_pb2 as pb


def _number(raw: object) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    return None


def is_plain_rate_limit(info: dict[str, Any]) -> bool:
    """A refusal naming no window and no reset: the upstream's rate limit, not a usage window."""
    return (
        info.get("status") == "rejected"
        and not info.get("rateLimitType")
        and not info.get("resetsAt")
        and not info.get("unifiedWindows")
    )


def quota_report(info: dict[str, Any], now_s: float) -> pb.RateLimitStatus | None:
    """The report of one `rate_limit_info`; None for a plain rate limit."""
    if is_plain_rate_limit(info):
        return None
    resets_at = int(_number(info.get("resetsAt")) or 0)
    utilization = _number(info.get("utilization"))
    status = str(info.get("status", ""))
    window = str(info.get("rateLimitType", ""))
    report = pb.RateLimitStatus(
        status=status,
        resets_at=resets_at,
        limit_type=window,
        utilization=utilization or 0.0,
        complete=status == "allowed" and utilization is None,
    )
    unified = info.get("unifiedWindows")
    if isinstance(unified, dict) and unified:
        report.complete = True  # every window is named: any other is below warning
        for name, raw in unified.items():
            if isinstance(raw, dict):
                report.windows.append(_unified_window(str(name), raw, info, now_s))
    elif window:
        threshold = _number(info.get("surpassedThreshold")) or 0.0
        report.windows.append(
            pb.QuotaWindow(
                window=window,
                status=status,
                utilization=utilization or 0.0,
                utilization_known=utilization is not None,
                resets_at=resets_at,
                seen_at=now_s,
                surpassed_threshold=threshold,
            )
        )
    return report


def _unified_window(
    name: str, raw: dict[str, Any], info: dict[str, Any], now_s: float
) -> pb.QuotaWindow:
    """One of `unifiedWindows`; a window given without a status has the event's when it is the
    one the event names (a refusal lists the refused window with only its figure and reset)."""
    utilization = _number(raw.get("utilization"))
    status = raw.get("status")
    if not isinstance(status, str) or not status:
        status = str(info.get("status", "")) if name == info.get("rateLimitType") else "allowed"
    return pb.QuotaWindow(
        window=name,
        status=status,
        utilization=utilization or 0.0,
        utilization_known=utilization is not None,
        resets_at=int(_number(raw.get("resetsAt")) or 0),
        seen_at=now_s,
        surpassed_threshold=_number(raw.get("surpassedThreshold")) or 0.0,
    )


def retry_delay_ms(line: dict[str, Any]) -> int:
    """The delay of a `system/api_retry` line after a 429 (the CLI honours `retry-after` in it);
    0 for any other."""
    if line.get("error_status") != 429 and line.get("error") != "rate_limit":
        return 0
    delay = _number(line.get("retry_delay_ms"))
    return int(delay) if delay and delay > 0 else 0
