"""The dashboard's CLI process figures in headless Chromium: versions, warm / parked / running
processes with their RSS, the pool's sizing and memory, how turns were served, and the process
table's state and RSS.

The figures come from fake workerds (tests/middle/inprocess.py) behind the controller's real Admin
service and the real frontdoor app, all in this process: the test decides every number, then
checks that the page shows exactly those, and that a hostile string from a worker stays text.
The full-page screenshot is kept in `test-artifacts/dashboard-cli.png`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright, expect

from common.models import ModelCatalog
from frontdoor.app import create_app
from frontdoor.config import FrontdoorConfig
from protos import common_pb2 as pb
from protos import worker_pb2
from tests.middle.inprocess import Rig, short_state_dir
from tests.stack import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
TOKEN = "dashboard-cli-token"
MIB = 1024**2
HOSTILE = "<img src=x onerror=window.__xss=1>"
UI_TIMEOUT_MS = 15_000

pytestmark = pytest.mark.middle


@pytest.fixture
async def served() -> AsyncIterator[tuple[Rig, str]]:
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {"1": "cli", "2": "api"})
        await rig.serve_admin()
        config = FrontdoorConfig(
            host="127.0.0.1",
            port=0,
            auth_token=TOKEN,
            paths=rig.config.paths,
            models=ModelCatalog(),
            max_body_bytes=1 << 20,
            workers_configured=2,
            stream_commit_ms=15_000,
        )
        server = TestServer(create_app(config), host="127.0.0.1")
        await server.start_server()
        try:
            yield rig, str(server.make_url("")).rstrip("/")
        finally:
            await server.close()
            await rig.stop()


@pytest.fixture
async def page() -> AsyncIterator[tuple[Page, list[str]]]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        opened = await browser.new_page(viewport={"width": 1440, "height": 900})
        problems: list[str] = []
        opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        opened.on("pageerror", lambda e: problems.append(str(e)))
        yield opened, problems
        await browser.close()


async def test_workers_and_processes_show_cli_sessions(
    served: tuple[Rig, str], page: tuple[Page, list[str]]
) -> None:
    rig, base_url = served
    tab, problems = page
    rig.workers["1"].status.MergeFrom(
        worker_pb2.WorkerStatus(
            cli_version="2.1.328",
            warm=2,
            parked=1,
            running=1,
            idle_rss_bytes=600 * MIB,
            warm_fallbacks=[HOSTILE],
            pool=pb.PoolFigures(
                target=4,
                floor=2,
                ceiling=6,
                ready=2,
                starting=1,
                memory_bytes=900 * MIB,
                memory_budget_bytes=2 * 1024 * MIB,
                claimed_starting=3,
            ),
        )
    )
    rig.workers["1"].processes = [
        worker_pb2.ProcessInfo(pid=101, state="ready", age_s=5, idle_s=5, rss_bytes=180 * MIB),
        worker_pb2.ProcessInfo(pid=102, state="ready", age_s=9, idle_s=9, rss_bytes=170 * MIB),
        worker_pb2.ProcessInfo(
            pid=103,
            state="parked",
            age_s=60,
            idle_s=50,
            rss_bytes=250 * MIB,
            conversation=HOSTILE,
        ),
        worker_pb2.ProcessInfo(
            pid=104, state="running", age_s=2, idle_s=0, rss_bytes=300 * MIB, request_id="r-9"
        ),
    ]
    await rig.poll()
    sessions = rig.pool.handles["1"].sessions
    for served_how, reason in [("live", "")] * 5 + [("warm", "edited"), ("cold", "")]:
        sessions.note(pb.SessionInfo(served=served_how, rebuild_reason=reason))

    await tab.goto(f"{base_url}/dashboard/proxy#token={TOKEN}")
    cli_worker = tab.locator("#workers-body .worker", has=tab.locator(".w-name", has_text="W1"))
    await expect(cli_worker.locator(".badge-cli")).to_have_text(
        "CLI 2.1.328", timeout=UI_TIMEOUT_MS
    )
    procs = cli_worker.locator(".w-procs")
    await expect(procs.nth(0)).to_have_text("2 warm · 1 parked · 600 MiB")
    await expect(procs.nth(1)).to_have_text("1 running · 300 MiB")
    await expect(cli_worker.locator(".w-pool")).to_have_text(
        "pool: ready 2 / target 4 (starting 1) · memory 900 MiB of budget 2.0 GiB"
    )
    await expect(cli_worker.locator(".w-turns")).to_have_text("turns: 5 live · 1 warm · 1 cold")
    await expect(cli_worker.locator(".w-rebuilds")).to_have_text("rebuilt: edited 1")
    await expect(cli_worker.locator(".w-fallbacks")).to_have_text("cold only: 1 signature")
    api_worker = tab.locator("#workers-body .worker", has=tab.locator(".w-name", has_text="W2"))
    await expect(api_worker.locator(".w-cli")).to_be_hidden()
    await expect(api_worker.locator(".w-pool")).to_be_hidden()
    await expect(api_worker.locator(".badge-cli")).to_be_hidden()
    await expect(tab.locator("#affinity")).to_contain_text("turns live71%")

    rows = tab.locator("#proc-body tbody tr")
    await expect(rows).to_have_count(4, timeout=UI_TIMEOUT_MS)
    await expect(rows.nth(0)).to_have_attribute("data-state", "running")  # running first
    parked = tab.locator("#proc-body tbody tr[data-state=parked]")
    await expect(parked.locator("td").nth(2)).to_have_text("parked")
    await expect(parked.locator("td").nth(6)).to_have_text("250 MiB")
    await expect(parked.locator(".conv")).to_have_text(HOSTILE[:15] + "…")
    warm = tab.locator("#proc-body tbody tr[data-state=ready]")
    await expect(warm).to_have_count(2)
    await expect(warm.first.locator("td").nth(2)).to_have_text("warm")
    await expect(tab.locator("#proc-summary")).to_contain_text(
        "4 processes: 1 running · 2 warm · 1 parked · 900 MiB"
    )
    assert await tab.evaluate("typeof window.__xss") == "undefined"
    assert await tab.locator("#dashboard img").count() == 0
    assert problems == []
    ARTIFACTS.mkdir(exist_ok=True)
    await tab.screenshot(path=str(ARTIFACTS / "dashboard-cli.png"), full_page=True)
