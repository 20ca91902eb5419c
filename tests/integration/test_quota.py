"""Account quota end to end: the mock upstream answers each credential with its own rate-limit
headers; a real CLI worker (its rate_limit_event), an api worker on an OAuth token (unified
headers) and an api worker on an API key (requests/tokens headers) report their windows, and
/metrics, Prometheus, Admin.ListWorkers and the dashboard (headless Chromium) show them, also
after a controller restart. Routing by quota is tested in-process
(tests/middle/controller/test_quota_routing.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.integration.test_dashboard import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS
from tests.mock_upstream import MockUpstream, api_key_headers, unified_headers
from tests.stack import TOKEN, Stack, claude_bin, cli_children, wait_until
from workerd.cli.version import parse_version

pytestmark = pytest.mark.stack
HOUR = 3600


@pytest.fixture(scope="module")
def quota_stack(upstream: MockUpstream) -> Iterator[tuple[Stack, dict[str, Any]]]:
    now = int(time.time())
    resets = {"c1": now + 2 * HOUR, "a1": now + 4 * HOUR, "week": now + 3 * 24 * HOUR}
    upstream.set_account_headers(
        "quota-c1", unified_headers(0.93, resets["c1"], 0.41, resets["week"])
    )
    upstream.set_account_headers(
        "quota-a1", unified_headers(0.37, resets["a1"], 0.62, resets["week"], claim="seven_day")
    )
    upstream.set_account_headers("quota-k1", api_key_headers(4000, 3000, 400_000, 399_000))
    workers = [
        {"name": "c1", "mode": "cli", "bin": claude_bin(), "token": "sk-ant-oat01-quota-c1"},
        {"name": "a1", "mode": "api", "token": "sk-ant-oat01-quota-a1"},
        {"name": "k1", "mode": "api", "api_key": "sk-ant-api03-quota-k1"},
    ]
    stack = Stack(
        {
            "WORKERS": json.dumps(workers),
            "ANTHROPIC_BASE_URL": upstream.base_url,
            "OVERFLOW_TO_API": "true",  # with the CLI worker drained, the api workers serve
            "QUOTA_STRATEGY": "spread",
            "WARM_PROCESSES": "0",
        }
    ).start()
    yield stack, resets
    stack.stop()
    assert cli_children(stack.state_dir) == []


def workers(stack: Stack) -> dict[str, dict[str, Any]]:
    status, stats = stack.get("/metrics")
    assert status == 200
    return {w["name"]: w for w in stats["workers"]}


def chat(stack: Stack, text: str) -> str:
    client = stack.client()
    response = client.chat.completions.with_raw_response.create(
        model="sonnet", messages=[{"role": "user", "content": text}]
    )
    return str(response.headers["x-proxy-worker"])


def test_each_account_reports_its_windows_everywhere(
    quota_stack: tuple[Stack, dict[str, Any]],
) -> None:
    stack, resets = quota_stack
    assert chat(stack, "quota on the cli worker") == "c1"
    wait_until(lambda: bool(workers(stack)["c1"]["quota"]), 10, "c1's windows")
    status, _, _ = stack.request("POST", "/admin/workers/c1/drain", b"{}")
    assert status == 200
    served = {chat(stack, f"quota on the api workers {n}") for n in range(2)}
    assert served == {"a1", "k1"}  # spread: one each
    status, _, _ = stack.request("POST", "/admin/workers/c1/resume", b"{}")
    assert status == 200

    shown = workers(stack)
    # The CLI reports only the window past its warning threshold, with its figure.
    five = shown["c1"]["quota"]["five_hour"]
    assert (five["utilization"], five["status"], five["resets_at"]) == (
        0.93,
        "allowed_warning",
        resets["c1"],
    )
    assert five["seen_at"] > time.time() - 120
    assert shown["c1"]["quotaStatus"] == "allowed_warning"
    if _cli_sends_unified_windows():  # [332]: every window with its figure, below warning too
        seven = shown["c1"]["quota"]["seven_day"]
        assert (seven["utilization"], seven["status"]) == (0.41, "allowed")
        assert seven["resets_at"] == resets["week"]
    # An api worker on an OAuth token reads every unified window itself.
    assert {k: v["utilization"] for k, v in shown["a1"]["quota"].items()} == {
        "five_hour": 0.37,
        "seven_day": 0.62,
    }
    assert shown["a1"]["quota"]["seven_day"]["resets_at"] == resets["week"]
    assert shown["a1"]["credential"] == "oauth"
    # An API key: its per-minute request and token windows; no built-in pace.
    assert {k: v["utilization"] for k, v in shown["k1"]["quota"].items()} == {
        "requests": 0.25,
        "tokens": 0.0025,
    }
    assert shown["k1"]["credential"] == "api_key"
    _, stats = stack.get("/metrics")
    assert all(u["worker"] != "k1" for u in stats["rateLimits"]["usage"])

    status, _, body = stack.request("GET", "/metrics/prometheus")
    text = body.decode()
    assert status == 200
    assert 'ccproxy_account_utilization{worker="c1",window="five_hour"} 0.93' in text
    if _cli_sends_unified_windows():
        assert 'ccproxy_account_utilization{worker="c1",window="seven_day"} 0.41' in text
    assert 'ccproxy_account_utilization{worker="a1",window="seven_day"} 0.62' in text
    assert 'ccproxy_account_utilization{worker="k1",window="requests"} 0.25' in text
    assert (
        f'ccproxy_account_resets_at_seconds{{worker="a1",window="five_hour"}} {resets["a1"]}'
        in (text)
    )

    listed = {w.name: w for w in stack.admin_workers().workers}
    c1 = {q.window: q for q in listed["c1"].quota}
    assert c1["five_hour"].utilization_known and c1["five_hour"].resets_at == resets["c1"]
    assert listed["c1"].quota_status == "allowed_warning"
    assert {q.window for q in listed["k1"].quota} == {"requests", "tokens"}
    assert listed["k1"].credential == "api_key"


def _cli_sends_unified_windows() -> bool:
    """2.1.332's rate_limit_event carries `unifiedWindows`; 2.1.197's does not
    (docs/claude-cli.md, "Quota windows")."""
    banner = subprocess.run([claude_bin(), "--version"], capture_output=True, text=True).stdout
    version = parse_version(banner)
    return version is not None and version >= (2, 1, 332)


def worker_row(tab: Page, name: str) -> Locator:
    """The dashboard's row of one worker, by its exact name."""
    exact = tab.locator(".w-name", has_text=re.compile(f"^{re.escape(name)}$"))
    return tab.locator("#workers-body .worker", has=exact)


def test_the_dashboard_shows_a_bar_per_window_with_its_reset(
    quota_stack: tuple[Stack, dict[str, Any]],
) -> None:
    stack, _ = quota_stack
    wait_until(lambda: all(w["quota"] for w in workers(stack).values()), 10, "every window")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1440, "height": 900})
            tab.goto(f"{stack.base_url}/dashboard/proxy#token={TOKEN}")
            row = worker_row(tab, "c1")
            five = row.locator(".qb-row[data-window=five_hour]")
            expect(five.locator(".qb-figure")).to_have_text("93%", timeout=UI_TIMEOUT_MS)
            expect(five.locator(".qb-reset")).to_contain_text("resets in 1h 5")
            expect(five.locator(".qb-fill")).to_have_class("qb-fill qb-warn")
            a1 = worker_row(tab, "a1")
            expect(a1.locator(".qb-row[data-window=seven_day] .qb-figure")).to_have_text("62%")
            expect(a1.locator(".qb-row[data-window=seven_day] .qb-reset")).to_contain_text(
                "resets in 2d 2"
            )
            k1 = worker_row(tab, "k1")
            expect(k1.locator(".qb-row[data-window=requests] .qb-figure")).to_have_text("25%")
        finally:
            browser.close()


def test_windows_survive_a_controller_restart(quota_stack: tuple[Stack, dict[str, Any]]) -> None:
    stack, _ = quota_stack
    before = {name: w["quota"] for name, w in workers(stack).items()}
    assert all(before.values())
    assert "controller: started" in stack.supervisorctl("restart", "controller")

    def restarted() -> bool:
        try:
            return {name: w["quota"] for name, w in workers(stack).items()} == before
        except (OSError, AssertionError, KeyError):
            return False

    wait_until(restarted, 30, "the restarted controller to show the same windows")
    _, stats = stack.get("/metrics")
    assert stats["uptimeS"] < 60  # a new controller, not the old one
