"""Fixtures for the stack tiers: the mock upstream and stacks started as in production."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator

import pytest

from tests.mock_upstream import MockUpstream
from tests.stack import Stack, claude_bin, cli_children


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing stack test's report carries what its running stacks complained of: CI keeps
    only the report, and the state directories die with the machine."""
    report = yield
    if report.failed:
        for stack in Stack.running:
            report.sections.append((f"stack {stack.state_dir}", stack.complaints()))
    return report


@pytest.fixture(scope="session")
def upstream() -> Iterator[MockUpstream]:
    with MockUpstream() as mock:
        yield mock


@pytest.fixture(scope="module")
def cli_stack(upstream: MockUpstream) -> Iterator[Stack]:
    """Two cli-mode workers running the real pinned CLI against the mock upstream."""
    bin_path = claude_bin()
    workers = [
        {"name": name, "bin": bin_path, "token": f"sk-ant-oat01-test-{name}", "mode": "cli"}
        for name in ("1", "2")
    ]
    stack = Stack({"WORKERS": json.dumps(workers), "ANTHROPIC_BASE_URL": upstream.base_url})
    stack.start()
    yield stack
    stack.stop()
    assert cli_children(stack.state_dir) == []


@pytest.fixture(scope="session")
def stacks(upstream: MockUpstream) -> Iterator[dict[str, Stack]]:
    """One `api` and one `cli` worker stack (the real pinned CLI), shared by the door suites
    that run every test on both kinds of worker."""
    workers = {
        "api": {"name": "api", "mode": "api", "api_key": "sk-ant-api03-test"},
        "cli": {"name": "cli", "mode": "cli", "bin": claude_bin(), "token": "sk-ant-oat01-t"},
    }
    settings = {"ANTHROPIC_BASE_URL": upstream.base_url, "TOOL_RESULT_TIMEOUT_MS": "60000"}
    started = {
        kind: Stack({"WORKERS": json.dumps([worker]), **settings}).start()
        for kind, worker in workers.items()
    }
    yield started
    for stack in started.values():
        stack.stop()
