"""Pure: the Messages API's rate-limit response headers -> a neutral quota report.

OAuth (subscription) credentials get the unified set: `anthropic-ratelimit-unified-status`,
`-reset`, `-representative-claim`, and per window (`5h`, `7d`, `7d_opus`, `7d_sonnet`)
`-<w>-utilization`, `-<w>-reset`, `-<w>-status`, `-<w>-surpassed-threshold`. The
`-overage-status` header says whether extra usage is allowed, not how a window is used: it is
not a window.
API keys get `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,
reset}` (reset as RFC 3339). Either becomes one `RateLimitStatus` with a `QuotaWindow` per window
named; no headers, no report. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from protos import common_pb2 as pb

UNIFIED = "anthropic-ratelimit-unified-"
WINDOW_NAMES = {
    "5h": "five_hour",
    "7d": "seven_day",
    "7d_opus": "seven_day_opus",
    "7d_sonnet": "seven_day_sonnet",
}
API_KEY_WINDOWS = ("requests", "tokens", "input-tokens", "output-tokens")


def quota_report(headers: Mapping[str, str], now: float) -> pb.RateLimitStatus | None:
    """The windows these response headers tell about, or None when they tell nothing."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if any(name.startswith(UNIFIED) for name in lowered):
        return _unified(lowered, now)
    return _api_key(lowered, now)


def _unified(headers: Mapping[str, str], now: float) -> pb.RateLimitStatus:
    status = headers.get(UNIFIED + "status", "")
    report = pb.RateLimitStatus(
        status=status,
        resets_at=_int(headers.get(UNIFIED + "reset")),
        limit_type=WINDOW_NAMES.get(
            headers.get(UNIFIED + "representative-claim", ""),
            headers.get(UNIFIED + "representative-claim", ""),
        ),
        complete=True,  # the upstream names every window it counts
    )
    for short, name in WINDOW_NAMES.items():
        prefix = f"{UNIFIED}{short}-"
        used = _float(headers.get(prefix + "utilization"))
        reset = _int(headers.get(prefix + "reset"))
        window_status = headers.get(prefix + "status", "")
        if used is None and not reset:
            continue
        report.windows.append(
            pb.QuotaWindow(
                window=name,
                status=window_status or _window_status(status, name, report.limit_type),
                utilization=used or 0.0,
                utilization_known=used is not None,
                resets_at=reset,
                seen_at=now,
                surpassed_threshold=_float(headers.get(prefix + "surpassed-threshold")) or 0.0,
            )
        )
    claimed = next((w for w in report.windows if w.window == report.limit_type), None)
    if claimed is not None:
        report.utilization = claimed.utilization
    return report


def _window_status(account_status: str, window: str, claim: str) -> str:
    """A window without its own status: the account's, when it is the one that binds."""
    if window == claim:
        return account_status
    return "allowed" if account_status else ""


def _api_key(headers: Mapping[str, str], now: float) -> pb.RateLimitStatus | None:
    report = pb.RateLimitStatus(complete=True)
    for kind in API_KEY_WINDOWS:
        prefix = f"anthropic-ratelimit-{kind}-"
        limit = _float(headers.get(prefix + "limit"))
        remaining = _float(headers.get(prefix + "remaining"))
        if not limit or remaining is None:
            continue
        used = min(max(1.0 - remaining / limit, 0.0), 1.0)
        report.windows.append(
            pb.QuotaWindow(
                window=kind.replace("-", "_"),
                status="rejected" if remaining <= 0 else "allowed",
                utilization=round(used, 4),
                utilization_known=True,
                resets_at=_rfc3339(headers.get(prefix + "reset")),
                seen_at=now,
            )
        )
    if not report.windows:
        return None
    binding = max(report.windows, key=lambda w: w.utilization)
    report.status = "rejected" if binding.status == "rejected" else "allowed"
    report.limit_type, report.utilization = binding.window, binding.utilization
    report.resets_at = binding.resets_at
    return report


def _float(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _int(raw: str | None) -> int:
    value = _float(raw)
    return int(value) if value is not None and value > 0 else 0


def _rfc3339(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return _int(raw)
