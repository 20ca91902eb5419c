"""workerd/cli/version.py: the CLI's version, and the start-up error for one below the floor."""

from __future__ import annotations

import logging

import pytest

from common.config import ConfigError
from tests.stack import FAKE_CLAUDE
from workerd.cli.version import (
    OLDEST_SUPPORTED,
    UnsupportedCli,
    check_supported,
    is_older_than_supported,
    parse_version,
    probe_version,
)

pytestmark = pytest.mark.middle


def test_parse_version_reads_the_cli_banner() -> None:
    assert parse_version("2.1.332 (Claude Code)") == (2, 1, 332)
    assert parse_version("claude 10.0.3") == (10, 0, 3)
    assert parse_version("no version here") is None


def test_older_than_supported() -> None:
    oldest = ".".join(map(str, OLDEST_SUPPORTED))
    assert oldest == "2.1.197"  # the Makefile's CLAUDE_COMPAT_VERSION and docs/claude-cli.md
    assert not is_older_than_supported(oldest)
    assert is_older_than_supported("2.1.196")
    assert is_older_than_supported("1.9.999")
    assert not is_older_than_supported("2.2.0")
    assert not is_older_than_supported("garbage")  # unknown is not "older"


async def test_probe_runs_the_binary() -> None:
    assert await probe_version(str(FAKE_CLAUDE), {"PATH": "/usr/bin:/bin"}) == "9.9.9"


async def test_probe_of_a_missing_binary_is_empty() -> None:
    assert await probe_version("/nonexistent/claude", {}) == ""


def test_a_cli_below_the_floor_is_a_start_up_error() -> None:
    with pytest.raises(UnsupportedCli, match=r"2\.0\.1 at /usr/bin/claude .* oldest supported"):
        check_supported("2.0.1", "/usr/bin/claude")
    assert issubclass(UnsupportedCli, ConfigError)  # workerd's main exits with it


@pytest.mark.parametrize(("version", "expected"), [("", "could not read"), ("2.1.332", None)])
def test_start_up_check_otherwise_only_logs(
    version: str, expected: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="workerd.cli.version"):
        check_supported(version, "/usr/bin/claude")
    if expected is None:
        assert caplog.records == []
    else:
        assert expected in caplog.text
