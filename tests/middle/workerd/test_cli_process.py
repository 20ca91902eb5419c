"""workerd/cli/process.py: how CLI children are spawned and how their exits are seen."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from workerd.cli.process import PidfdWatcher, ProcessTable, pidfd_supported

pytestmark = pytest.mark.middle

ENV = {"PATH": "/usr/bin:/bin"}


async def test_children_are_watched_by_pidfd_with_no_thread_each(tmp_path: Path) -> None:
    table = ProcessTable()
    first = await table.spawn(["sh", "-c", "read line; exit 7"], ENV, str(tmp_path), "r", "m")
    threads = threading.active_count()

    second = await table.spawn(["sleep", "30"], ENV, str(tmp_path), "r", "m")

    # Python 3.12+ watches by pidfd itself; without pidfd_open (Linux < 5.3, or a seccomp
    # profile) asyncio's own watcher stays: either way every exit is seen, as below.
    if sys.version_info < (3, 12) and pidfd_supported():
        assert isinstance(asyncio.get_child_watcher(), PidfdWatcher)
        assert threading.active_count() == threads  # 3.11's own watcher starts one per child
    await first.send_lines(["go"])
    assert await asyncio.wait_for(first.wait(), 10) == 7
    second.proc.kill()
    assert await asyncio.wait_for(second.wait(), 10) == -9
