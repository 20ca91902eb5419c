"""What a request really used is recorded, even when its run was cut, and a run's start is on
disk before the batch delay (a controller killed then still leaves the request's row)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from controller.events.bus import ProxyEvent
from controller.storage.accounting import Accounting
from protos import common_pb2 as pb
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle

PROMPT = "p" * 4000  # about 1000 tokens
ANSWER = "a" * 400  # about 100 tokens


async def test_a_run_cut_after_output_records_its_estimated_use() -> None:
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {"1": "cli"})
        try:
            rig.workers["1"].script = [
                pb.Event(text=pb.TextDelta(text=ANSWER[:150])),
                pb.Event(text=pb.TextDelta(text=ANSWER[150:])),
                pb.Event(error=pb.Error(code=pb.WORKER_CRASHED, message="the CLI died")),
            ]
            request = pb.ChatRequest(
                request_id="r1",
                model="sonnet",
                source="ide",
                messages=[
                    pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text=PROMPT)])
                ],
            )
            await rig.complete(request)

            [row] = rig.logged("error")
            assert row.data["status"] == "WORKER_CRASHED"
            assert (row.data["input_tokens"], row.data["output_tokens"]) == (1000, 100)
        finally:
            await rig.stop()


async def test_a_run_start_is_written_without_waiting_for_the_batch() -> None:
    with short_state_dir() as root:
        path = Path(root) / "proxy.db"
        accounting = Accounting(path, retention_days=30, flush_delay_s=3600)
        await accounting.open(100)
        writer = asyncio.create_task(accounting.run())
        try:
            accounting.observe(ProxyEvent(1, "request", time.time(), {"request_id": "r1"}))
            accounting.observe(ProxyEvent(2, "started", time.time(), {"request_id": "r1"}))
            deadline = time.monotonic() + 10

            def logged() -> list[str]:
                with sqlite3.connect(path) as conn:
                    return [row[0] for row in conn.execute("SELECT type FROM events ORDER BY id")]

            while logged() != ["request", "started"]:
                assert time.monotonic() < deadline, "the start never reached the database"
                await asyncio.sleep(0.01)
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await accounting.close()


async def test_a_start_cuts_short_a_batch_already_gathering() -> None:
    with short_state_dir() as root:
        path = Path(root) / "proxy.db"
        accounting = Accounting(path, retention_days=30, flush_delay_s=3600)
        await accounting.open(100)
        writer = asyncio.create_task(accounting.run())
        try:
            accounting.observe(ProxyEvent(1, "request", time.time(), {"request_id": "r1"}))
            for _ in range(5):  # the writer wakes for the request and starts its long gather
                await asyncio.sleep(0)
            accounting.observe(ProxyEvent(2, "started", time.time(), {"request_id": "r1"}))
            await _until_written(path, ["request", "started"])
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await accounting.close()


async def test_the_starts_of_one_moment_share_one_write() -> None:
    with short_state_dir() as root:
        path = Path(root) / "proxy.db"
        accounting = Accounting(path, retention_days=30, flush_delay_s=3600, urgent_delay_s=0.5)
        await accounting.open(100)
        assert accounting._db is not None
        batches: list[int] = []
        write = accounting._db.write

        def counted(events: Sequence[ProxyEvent]) -> None:
            batches.append(len(events))
            write(events)

        accounting._db.write = counted  # type: ignore[method-assign]
        writer = asyncio.create_task(accounting.run())
        try:
            accounting.observe(ProxyEvent(1, "started", time.time(), {"request_id": "r1"}))
            for _ in range(5):  # the writer wakes for the first start
                await asyncio.sleep(0)
            accounting.observe(ProxyEvent(2, "started", time.time(), {"request_id": "r2"}))
            await _until_written(path, ["started", "started"])
            assert batches == [2]
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await accounting.close()


async def _until_written(path: Path, types: list[str]) -> None:
    deadline = time.monotonic() + 10

    def logged() -> list[str]:
        with sqlite3.connect(path) as conn:
            return [row[0] for row in conn.execute("SELECT type FROM events ORDER BY id")]

    while logged() != types:
        assert time.monotonic() < deadline, f"{types} never reached the database"
        await asyncio.sleep(0.01)
