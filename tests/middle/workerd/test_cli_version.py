"""workerd/cli/version.py: the CLI's version, and the warning for one older than tested."""

from __future__ import annotations

import logging

import pytest

from tests.stack import FAKE_CLAUDE
from workerd.cli.version import (
    OLDEST_TESTED,
    is_older_than_tested,
    parse_version,
    probe_version,
    warn_if_untested,
)

pytestmark = pytest.mark.middle


def test_parse_version_reads_the_cli_banner() -> None:
    assert parse_version("2.1.197 (Claude Code)") == (2, 1, 197)
    assert parse_version("claude 10.0.3") == (10, 0, 3)
    assert parse_version("no version here") is None


def test_older_than_tested() -> None:
    oldest = ".".join(map(str, OLDEST_TESTED))
    assert not is_older_than_tested(oldest)
    assert is_older_than_tested("2.1.196")
    assert is_older_than_tested("1.9.999")
    assert not is_older_than_tested("2.2.0")
    assert not is_older_than_tested("garbage")  # unknown is not "older"


async def test_probe_runs_the_binary() -> None:
    assert await probe_version(str(FAKE_CLAUDE), {"PATH": "/usr/bin:/bin"}) == "9.9.9"


async def test_probe_of_a_missing_binary_is_empty() -> None:
    assert await probe_version("/nonexistent/claude", {}) == ""


@pytest.mark.parametrize(
    ("version", "expected"),
    [("2.0.1", "older than the oldest tested"), ("", "could not read"), ("2.1.328", None)],
)
def test_warning_at_start_up(
    version: str, expected: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="workerd.cli.version"):
        warn_if_untested(version, "/usr/bin/claude")
    if expected is None:
        assert caplog.records == []
    else:
        assert expected in caplog.text
