"""The version of the claude CLI a worker runs, and whether this proxy supports it.

OLDEST_SUPPORTED is the one place the supported floor is named (docs/claude-cli.md and the
Makefile's CLAUDE_COMPAT_VERSION repeat it); the pin is the Makefile's CLAUDE_VERSION."""

from __future__ import annotations

import asyncio
import logging
import re

from common.config import ConfigError

logger = logging.getLogger(__name__)
OLDEST_SUPPORTED = (2, 1, 197)
PROBE_TIMEOUT_S = 10.0
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


class UnsupportedCli(ConfigError):
    """The worker's claude CLI is older than the oldest supported version."""


def is_older_than_supported(version: str) -> bool:
    parsed = parse_version(version)
    return parsed is not None and parsed < OLDEST_SUPPORTED


async def probe_version(bin_path: str, env: dict[str, str]) -> str:
    """`claude --version` (about 0.1 s); empty when it cannot be run."""
    try:
        proc = await asyncio.create_subprocess_exec(
            bin_path,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT_S)
    except (OSError, TimeoutError):
        return ""
    parsed = parse_version(out.decode(errors="replace"))
    return ".".join(map(str, parsed)) if parsed else ""


def check_supported(version: str, bin_path: str) -> None:
    """Raise UnsupportedCli for a CLI older than the floor; an unreadable version is a warning."""
    if not version:
        logger.warning("could not read the version of %s", bin_path)
    elif is_older_than_supported(version):
        oldest = ".".join(map(str, OLDEST_SUPPORTED))
        raise UnsupportedCli(
            "CLAUDE_BIN",
            f"claude CLI {version} at {bin_path} is older than the oldest supported version "
            f"{oldest}; upgrade it, or run `make claude` and point CLAUDE_BIN at the pinned one",
        )
