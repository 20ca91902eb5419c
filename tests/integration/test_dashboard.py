"""The dashboard in headless Chromium against the real stack: workers, live requests, escaping.

Debian's Chromium (`/usr/bin/chromium`, installed by `make test`) is driven by Playwright; no
browser is ever downloaded. The full-page screenshot is kept in `test-artifacts/dashboard.png`.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    expect,
    sync_playwright,
)

from tests.stack import ARTIFACTS, FAKE_CLAUDE, TOKEN, Stack

pytestmark = pytest.mark.stack
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS_SOURCE = "<img src=x onerror=window.__xss=1>"
UI_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log = tmp_path_factory.mktemp("dashboard") / "runs.log"
    entry = {"bin": str(FAKE_CLAUDE), "env": {"FAKE_CLAUDE_LOG": str(log)}}
    workers = [
        {**entry, "name": name, "token": f"sk-ant-oat01-dashboard-{name}"} for name in ("1", "2")
    ]
    # One attempt: a CLI killed from the page fails its request instead of moving on.
    running = Stack({"WORKERS": json.dumps(workers), "MAX_ATTEMPTS": "1"}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page and the console errors and uncaught exceptions it reports."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    opened = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text} ({message.location})")

    def on_page_error(error: Error) -> None:
        problems.append(f"page error: {error}")

    opened.on("console", on_console)
    opened.on("pageerror", on_page_error)
    yield opened, problems
    context.close()


def chat(stack: Stack, text: str, source: str, model: str = "sonnet", stream: bool = True) -> None:
    client = stack.client()
    messages: Any = [{"role": "user", "content": text}]
    headers = {"X-Source": source}
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model=model, messages=messages, stream=True, extra_headers=headers
        ) as response:
            response.read()
    else:
        client.chat.completions.create(model=model, messages=messages, extra_headers=headers)


def killed_chat(stack: Stack, outcome: list[str]) -> None:
    """A long request that the test kills from the page: it must end as an error."""
    try:
        chat(stack, "FAKE:sleep:60 long", "long-job", stream=False)
    except openai.APIError:
        outcome.append("failed")
    else:
        outcome.append("answered")


def test_shell_and_assets_are_public_but_data_is_not(stack: Stack) -> None:
    with urllib.request.urlopen(stack.base_url + "/dashboard/proxy", timeout=10) as response:
        headers = response.headers
        assert response.status == 200
        assert "text/html" in headers["Content-Type"]
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    asset = stack.base_url + "/dashboard/proxy/static/dashboard.js"
    with urllib.request.urlopen(asset, timeout=10) as response:
        assert response.status == 200
        assert "javascript" in response.headers["Content-Type"]
    for path in ("/metrics", "/stream", "/dashboard/proxy/static/API.md"):
        status, _, _ = stack.request("GET", path, headers={"Authorization": ""})
        assert status in (401, 404), path


def test_dashboard_shows_workers_live_requests_and_escapes_sources(
    stack: Stack, page: tuple[Page, list[str]]
) -> None:
    tab, problems = page
    tab.goto(f"{stack.base_url}/dashboard/proxy#token={TOKEN}")
    expect(tab.locator("#workers-body .worker")).to_have_count(2, timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#workers-body .w-name")).to_have_text(["W1", "W2"])
    assert "token=" not in tab.url  # the fragment is moved into sessionStorage at once
    expect(tab.locator("#hdr-status")).to_have_text("live", timeout=UI_TIMEOUT_MS)

    requests = [
        threading.Thread(target=chat, args=(stack, f"hello {n}", source, model, n % 2 == 0))
        for n, (source, model) in enumerate(
            [("my-ide", "sonnet"), ("agent-runner", "opus"), ("batch/cron", "haiku")]
        )
    ]
    requests.append(threading.Thread(target=chat, args=(stack, "FAKE:sleep:2 hi", XSS_SOURCE)))
    outcome: list[str] = []
    requests.append(threading.Thread(target=killed_chat, args=(stack, outcome)))
    for thread in requests:
        thread.start()

    card = live_card(tab, XSS_SOURCE)
    expect(card).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(card.locator(".card-source")).to_have_text(XSS_SOURCE)
    expect(card.locator(".card-state")).to_have_text("streaming", timeout=UI_TIMEOUT_MS)
    expect(card.locator(".card-state")).to_have_text("✓ done", timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#events-body")).to_contain_text(XSS_SOURCE, timeout=UI_TIMEOUT_MS)
    expect(tab.locator("#token-strip .tok-big").first).not_to_have_text("–", timeout=UI_TIMEOUT_MS)
    process = tab.locator("#proc-body tbody tr", has_text="long-job")
    expect(process).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert tab.evaluate("typeof window.__xss") == "undefined"
    assert tab.locator("#dashboard img").count() == 0  # the payload never became an element
    # Every finished request has reached the polled panels (the long job is still running).
    expect(tab.locator("#token-strip")).to_contain_text("· 4 req", timeout=UI_TIMEOUT_MS)
    # The long job is the only process running a turn (warm ones may wait beside it).
    running = tab.locator("#proc-body tbody tr[data-state=running]")
    expect(running).to_have_count(1, timeout=UI_TIMEOUT_MS)
    print(f"dashboard screenshot: {save_screenshot(tab)}")

    process.get_by_role("button", name="Kill").click()  # asks first; the request then fails
    expect(tab.locator("#confirm")).to_have_attribute("open", "", timeout=UI_TIMEOUT_MS)
    tab.locator("#confirm button[value=ok]").click()
    expect(live_card(tab, "long-job").locator(".card-state")).to_have_text(
        "✕ failed", timeout=UI_TIMEOUT_MS
    )
    expect(process).to_have_count(0, timeout=UI_TIMEOUT_MS)
    for thread in requests:
        thread.join(timeout=30)
    assert outcome == ["failed"]
    assert tab.evaluate("typeof window.__xss") == "undefined"
    assert problems == []


def live_card(tab: Page, source: str) -> Locator:
    return tab.locator("#live-cards .rcard", has=tab.locator(".card-source", has_text=source))


def save_screenshot(tab: Page) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "dashboard.png"
    tab.screenshot(path=str(path), full_page=True)
    return path
