"""The hot-path figures as markdown: the side-by-side table, CPU and memory, the goals."""

from __future__ import annotations

from typing import Any

from bench.report import Section

MOCK, PROXY, LITELLM = "mock direct", "this proxy", "LiteLLM"
GOAL_ADDED_P50_MS = 3.0
GOAL_THROUGHPUT_X = 4.0
GOAL_ADDED_TTFT_MS = 2.0
GOAL_IDLE_RSS_MIB = 150.0


def _f(value: float | None, unit: str = "ms") -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.1f} {unit}".strip() if unit != "rps" else f"{value:.0f} rps"


def _cell(row: dict[str, Any], side: str, key: str, mock: float | None) -> str:
    figures = row.get(side)
    if figures is None:
        return "-"
    value = figures[key]
    text = _f(value, "rps" if key == "rps" else "ms")
    if mock is not None and side != MOCK and key != "rps":
        text += f" (+{value - mock:.1f})"
    return text


def _versus(row: dict[str, Any], key: str) -> str:
    proxy, other = row.get(PROXY), row.get(LITELLM)
    if proxy is None or other is None:
        return "-"
    mock = row[MOCK][key]
    if key == "rps":
        return f"{proxy['rps'] / other['rps']:.1f}x the throughput" if other["rps"] else "-"
    added_proxy, added_other = proxy[key] - mock, other[key] - mock
    return f"adds {added_other / added_proxy:.1f}x less" if added_proxy > 0 else "-"


def _latency_rows(figures: dict[str, Any]) -> list[list[str]]:
    rows = []
    for phase, row in figures["phases"].items():
        for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("rps", "throughput")):
            mock = row[MOCK][key] if key != "rps" else None
            cells = [_cell(row, side, key, mock) for side in (MOCK, PROXY, LITELLM)]
            rows.append([f"{phase} {label}", *cells, _versus(row, key)])
        errors = [
            str(row[side]["errors"]) if side in row else "-" for side in (MOCK, PROXY, LITELLM)
        ]
        rows.append([f"{phase} errors / requests", *errors, ""])
    slow = figures["slow_streams"]
    for key, label in (
        ("upstream_reached_p50_ms", "request reaches the upstream p50"),
        ("upstream_reached_p99_ms", "request reaches the upstream p99"),
        ("ttft_p50_ms", "first token p50"),
        ("ttft_p99_ms", "first token p99"),
        ("p50_ms", "last token p50"),
    ):
        if key not in slow[MOCK]:
            continue  # results from before the mock told its arrivals
        mock = slow[MOCK][key]
        cells = [_cell(slow, side, key, mock) for side in (MOCK, PROXY, LITELLM)]
        rows.append([f"100 slow streams at once, {label}", *cells, _versus(slow, key)])
    return rows


def _cpu_rows(figures: dict[str, Any]) -> list[list[str]]:
    rows = []
    for phase in ("json c10", "stream c10", "json c50"):
        row = figures["phases"][phase]
        for side in (MOCK, PROXY, LITELLM):
            if side in row:
                cpu = row[side]["cpu_ms_per_request"]
                parts = ", ".join(f"{role} {ms:.2f}" for role, ms in cpu.items())
                rows.append([phase, side, f"{sum(cpu.values()):.2f}", parts])
    queued = figures["proxy_1000_at_once"]["cpu_ms_per_request"]
    parts = ", ".join(f"{role} {ms:.2f}" for role, ms in queued.items())
    rows.append(["json, 1,000 at once", PROXY, f"{sum(queued.values()):.2f}", parts])
    return rows


def _rss_rows(figures: dict[str, Any]) -> list[list[str]]:
    rows = []
    for side, idle in figures["idle_rss_mib"].items():
        peak = figures["peak_rss_mib"].get(side, {})
        shared = figures.get("idle_pss_uss_mib", {}).get(side, {})
        for role, mib in idle.items():
            pss, uss = (shared.get(role, {}).get(key, float("nan")) for key in ("pss", "uss"))
            peak_mib = f"{peak.get(role, 0.0):.0f} MiB"
            rows.append([side, role, f"{mib:.0f} MiB", f"{pss:.0f} / {uss:.0f} MiB", peak_mib])
        pss, uss = (sum(m.get(key, 0.0) for m in shared.values()) for key in ("pss", "uss"))
        total = f"{sum(idle.values()):.0f} MiB"
        rows.append(
            [side, "all", total, f"{pss:.0f} / {uss:.0f} MiB", f"{sum(peak.values()):.0f} MiB"]
        )
    return rows


def _goals(figures: dict[str, Any]) -> list[tuple[str, str]]:
    c1, c10 = figures["phases"]["json c1"], figures["phases"]["json c10"]
    added_p50 = c1[PROXY]["p50_ms"] - c1[MOCK]["p50_ms"]
    errors50 = sum(figures["phases"][p][PROXY]["errors"] for p in ("json c50", "stream c50"))
    slow = figures["slow_streams"]
    added_ttft = slow[PROXY]["ttft_p50_ms"] - slow[MOCK]["ttft_p50_ms"]
    idle = sum(figures["idle_rss_mib"][PROXY].values())
    shared = figures.get("idle_pss_uss_mib", {}).get(PROXY, {})
    idle_pss = sum(m.get("pss", 0.0) for m in shared.values())

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    goals = [
        (
            f"added p50, concurrency 1 (goal <= {GOAL_ADDED_P50_MS:.0f} ms)",
            f"{added_p50:.2f} ms: {verdict(added_p50 <= GOAL_ADDED_P50_MS)}",
        ),
        ("errors at concurrency 50 (goal 0)", f"{errors50}: {verdict(errors50 == 0)}"),
        (
            f"added first-token time, 100 slow streams (goal <= {GOAL_ADDED_TTFT_MS:.0f} ms)",
            f"{added_ttft:.1f} ms: {verdict(added_ttft <= GOAL_ADDED_TTFT_MS)}",
        ),
        (
            f"idle RSS, frontdoor + controller + workerd (goal <= {GOAL_IDLE_RSS_MIB:.0f} MiB)",
            f"{idle:.0f} MiB: {verdict(idle <= GOAL_IDLE_RSS_MIB)}",
        ),
        (
            "idle PSS, the same processes (shared libraries counted once)",
            f"{idle_pss:.0f} MiB",
        ),
    ]
    if LITELLM in c10:
        ratio = c10[PROXY]["rps"] / c10[LITELLM]["rps"]
        goals.insert(
            1,
            (
                f"throughput at concurrency 10 vs LiteLLM (goal >= {GOAL_THROUGHPUT_X:.0f}x)",
                f"{ratio:.1f}x: {verdict(ratio >= GOAL_THROUGHPUT_X)}",
            ),
        )
    return goals


def _floor_rows(figures: dict[str, Any]) -> list[list[str]]:
    rows = []
    for floor in figures["grpc_hop_floor"]:
        rows.append(
            [
                f"bare grpc.aio call, {floor['events_per_call']} events",
                f"{floor['p50_ms_alone']:.2f} ms",
                f"{floor['server_cpu_ms_per_call']:.2f} + {floor['client_cpu_ms_per_call']:.2f}",
            ]
        )
    mock = figures["phases"]["json c10"][MOCK]
    rows.append(
        [
            "aiohttp server hop (the mock, uvloop)",
            f"{figures['phases']['json c1'][MOCK]['p50_ms']:.2f} ms",
            f"{mock['cpu_ms_per_request']['mock']:.2f} + client",
        ]
    )
    return rows


def _ladder_rows(figures: dict[str, Any]) -> list[list[str]]:
    rows, before = [], 0.0
    for door, p50 in figures.get("hop_ladder_p50_ms", {}).items():
        rows.append([door, f"{p50:.2f} ms", f"+{p50 - before:.2f} ms" if before else ""])
        before = p50
    return rows


def render(figures: dict[str, Any]) -> tuple[list[tuple[str, str]], list[Section], list[str]]:
    header = ["figure", MOCK, f"{PROXY} (added)", f"{LITELLM} (added)", "this proxy vs LiteLLM"]
    cpu = ["phase", "side", "CPU ms / request", "by process"]
    rss = ["side", "process", "idle RSS", "idle PSS / USS", "peak RSS under load"]
    json10 = figures["phases"]["json c10"][PROXY]["cpu_ms_per_request"]
    queued = figures["proxy_1000_at_once"]["cpu_ms_per_request"]
    growth = sum(queued.values()) / max(sum(json10.values()), 1e-9)
    sections: list[Section] = [
        ("side by side", header, _latency_rows(figures)),
        ("CPU per request", cpu, _cpu_rows(figures)),
        ("memory", rss, _rss_rows(figures)),
        (
            "where the time goes at concurrency 1 (a request entering at each door)",
            ["enters at", "p50", "added by this hop"],
            _ladder_rows(figures),
        ),
        (
            "floor of one hop, measured in the same run",
            ["hop", "p50 alone (round trip)", "CPU ms per call, server + client (c10)"],
            _floor_rows(figures),
        ),
    ]
    notes = [
        f"LiteLLM {figures.get('litellm_version') or 'not installed'}, one worker; "
        f"{figures['seconds_per_phase']:.0f} s per phase and side, closed loop; "
        "added = this side's figure minus the mock's in the same phase.",
        f"CPU per request of this proxy with 1,000 requests at once vs concurrency 10: "
        f"{growth:.2f}x.",
    ]
    return _goals(figures), sections, notes
