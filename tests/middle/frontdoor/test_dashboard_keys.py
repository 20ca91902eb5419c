"""The dashboard's Keys panel in headless Chromium, over the real frontdoor and the fake
controller's keys (tests/middle/fake_keys.py), all in this process: a key made in the panel shows
its secret once (and that secret works), is listed with its policy, today's figures and budget
bars, and is revoked after a confirmation. A hostile key name stays text. A client key cannot
open the dashboard. The panel's screenshot is kept in `test-artifacts/dashboard-keys.png`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from protos import controller_pb2, keys_pb2
from tests.middle.door import TOKEN, Door, open_door
from tests.middle.inprocess import short_state_dir
from tests.stack import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
HOSTILE = "<img src=x onerror=window.__xss=1>"
UI_TIMEOUT_MS = 15_000

pytestmark = pytest.mark.middle


@pytest.fixture
async def served() -> AsyncIterator[Door]:
    with short_state_dir() as root:
        async with open_door(Path(root)) as door:
            door.controller.stats = controller_pb2.StatsSnapshot(
                version="test", generated_at=time.time(), started_at=time.time() - 60
            )
            yield door


@pytest.fixture
async def page() -> AsyncIterator[tuple[Page, list[str]]]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = await browser.new_context(viewport={"width": 1440, "height": 1000})
        await context.grant_permissions(["clipboard-read", "clipboard-write"])
        opened = await context.new_page()
        problems: list[str] = []
        opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        opened.on("pageerror", lambda e: problems.append(str(e)))
        yield opened, problems
        await browser.close()


def existing_key(door: Door) -> None:
    """A key already in use: today's figures, a daily budget three quarters spent, and (in
    /metrics) requests running and waiting."""
    info, _ = door.controller.add_key(HOSTILE, role="admin", rpm=60, daily_tokens=40_000)
    info.today.CopyFrom(
        keys_pb2.KeyUsage(requests=12, input_tokens=20_000, output_tokens=10_000, errors=1)
    )
    info.last_used_at = time.time() - 90
    assert door.controller.stats is not None
    door.controller.stats.keys.append(
        controller_pb2.KeyStats(id=info.id, name=info.name, role="admin", running=2, queued=1)
    )


async def test_a_key_is_made_shown_once_listed_and_revoked(
    served: Door, page: tuple[Page, list[str]]
) -> None:
    door = served
    tab, problems = page
    existing_key(door)
    await tab.goto(f"{door.base_url}/dashboard/proxy#token={TOKEN}")
    rows = tab.locator("#keys-body tbody tr")
    await expect(rows).to_have_count(1, timeout=UI_TIMEOUT_MS)
    hostile = rows.first
    await expect(hostile.locator("td").nth(0)).to_have_text(HOSTILE)
    await expect(hostile.locator("td").nth(4)).to_have_text("30k tok · 12 req")
    await expect(hostile.locator(".lbar-v")).to_have_text("30k/40k")
    await expect(hostile.locator("td").nth(6)).to_have_text("2 running · 1 queued")
    await expect(hostile.locator("td").nth(7)).to_have_text(re.compile(r"^1m \d+s ago$"))

    await tab.click("#keys-new")
    form = tab.locator("#key-form")
    await form.locator("input[name=name]").fill("colleague")
    await form.locator("input[name=for_another_person]").check()
    await expect(tab.locator("#kf-pool-cli")).to_be_disabled()
    await form.locator("input[name=rpm]").fill("30")
    await form.locator("input[name=daily_tokens]").fill("100000")
    await form.locator("input[name=monthly_cost_usd]").fill("5")
    await form.locator("input[name=models][value=sonnet]").check()
    await form.locator("input[name=weight]").fill("2")
    await form.locator("input[name=expires]").fill("2030-01-31")
    ARTIFACTS.mkdir(exist_ok=True)
    await tab.locator("#panel-keys").screenshot(path=str(ARTIFACTS / "dashboard-keys-form.png"))
    await form.locator("button[type=submit]").click()

    secret_box = tab.locator("#key-secret")
    await expect(secret_box).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(secret_box).to_contain_text("it will not be shown again")
    secret = await tab.locator("#key-secret-value").text_content()
    assert secret is not None and secret.startswith("sk-ccp-") and len(secret) == 50
    made = door.controller.key_requests[-1]
    assert isinstance(made, keys_pb2.CreateKeyRequest)
    assert (made.name, made.role, made.for_another_person) == ("colleague", "client", True)
    assert (made.policy.rpm, made.policy.daily_tokens, made.policy.weight) == (30, 100_000, 2.0)
    assert (list(made.policy.models), made.policy.expires_at) == (["sonnet"], 1_896_048_000.0)
    stored = {info.name: info for info in door.controller.keys.values()}["colleague"]
    assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()  # the real one

    await tab.click("#key-secret-copy")
    await expect(tab.locator("#key-secret-copy")).to_have_text("Copied")
    assert await tab.evaluate("navigator.clipboard.readText()") == secret

    colleague = tab.locator("#keys-body tbody tr[data-key=colleague]")
    await expect(colleague).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(colleague.locator("td").nth(0)).to_contain_text("other person")
    await expect(colleague.locator("td").nth(2)).to_have_text(secret[:11] + "…")
    await expect(colleague.locator("td").nth(3)).to_have_text(
        "30 rpm · sonnet · weight 2 · expires 2030-01-31"
    )
    await expect(colleague.locator(".lbar")).to_have_count(2)
    await expect(colleague.locator("td").nth(6)).to_have_text("idle")
    await expect(colleague.locator("td").nth(7)).to_have_text("never")
    await tab.locator("#panel-keys").screenshot(path=str(ARTIFACTS / "dashboard-keys.png"))

    await tab.click("#key-secret-done")
    await expect(secret_box).to_be_hidden()
    assert secret not in await tab.content()  # shown once: gone from the page

    await colleague.locator("button", has_text="Revoke").click()
    await expect(tab.locator("#confirm-text")).to_contain_text("Revoke key “colleague”?")
    await tab.click("#confirm-ok")
    await expect(colleague).to_have_count(0, timeout=UI_TIMEOUT_MS)
    assert stored.revoked_at > 0
    await expect(rows).to_have_count(1)
    assert await tab.evaluate("typeof window.__xss") == "undefined"
    assert await tab.locator("#dashboard img").count() == 0
    assert problems == []


async def test_a_client_key_cannot_open_the_dashboard(
    served: Door, page: tuple[Page, list[str]]
) -> None:
    door = served
    tab, _ = page
    _, secret = door.controller.add_key("ci")
    await door.keys_loaded()
    await tab.goto(f"{door.base_url}/dashboard/proxy")
    await tab.fill("#login-token", secret)
    await tab.click("#login-form button[type=submit]")
    await expect(tab.locator("#login-error")).to_have_text(
        "This key's role is client: the dashboard needs an admin key.", timeout=UI_TIMEOUT_MS
    )
    await expect(tab.locator("#dashboard")).to_be_hidden()
