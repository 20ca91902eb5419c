"""The version of the claude CLI a worker runs, and whether it is one this proxy was tested with."""

from __future__ import annotations

import asyncio
import logging
import re

logger = logging.getLogger(__name__)
OLDEST_TESTED = (2, 1, 197)
PROBE_TIMEOUT_S = 10.0
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def is_older_than_tested(version: str) -> bool:
    parsed = parse_version(version)
    return parsed is not None and parsed < OLDEST_TESTED


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


def warn_if_untested(version: str, bin_path: str) -> None:
    if not version:
        logger.warning("could not read the version of %s", bin_path)
    elif is_older_than_tested(version):
        oldest = ".".join(map(str, OLDEST_TESTED))
        logger.warning(
            "claude CLI %s at %s is older than the oldest tested version %s; "
            "upgrade it or run `make claude` for the pinned one",
            version,
            bin_path,
            oldest,
        )
