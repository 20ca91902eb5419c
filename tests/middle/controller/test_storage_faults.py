"""Storage faults lose nothing acknowledged (issue 21, items 1 to 3).

- A locked database: a second, real sqlite3 connection to proxy.db holds BEGIN IMMEDIATE.
- A full database: SQLite's own SQLITE_FULL ("database or disk is full"), raised by its pager
  because `PRAGMA max_page_count` on the controller's connection leaves no page to grow into:
  the same error, from the same place, as a full filesystem, without a mount (a tmpfs or loop
  mount needs privileges a test run cannot count on).
- A corrupt or unwritable database at start: `python -m controller` as a child process.

The accounting database is the controller's real one (Accounting, its writer task and thread);
the stored response goes through the real Conversations service over gRPC to the Responses
door's real Recorder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from common.rpc import StandardServer
from controller.events.bus import ProxyEvent
from controller.services import conversations
from controller.services.conversations import ConversationsServicer
from controller.storage import accounting as accounting_module
from controller.storage.accounting import Accounting, AccountingDb
from controller.storage.faults import EXIT_STORAGE_UNUSABLE
from frontdoor.controller_client import ControllerClient
from frontdoor.core.errors import ApiError
from frontdoor.responses.models import ResponsesRequest
from frontdoor.responses.output import ResponseBuilder, ResponsesSse
from frontdoor.responses.store import Recorder, RecordingSse
from protos import common_pb2 as pb
from protos import controller_pb2, controller_pb2_grpc
from tests.middle.inprocess import short_state_dir

pytestmark = pytest.mark.middle
REPO = Path(__file__).resolve().parents[3]
_ids = iter(range(1, 1_000_000))


def request_end(request_id: str) -> ProxyEvent:
    """The `complete` event that ends one request: one accounting row."""
    data = {
        "request_id": request_id,
        "source": "test",
        "model": "sonnet",
        "worker": "1",
        "mode": "cli",
        "status": "ok",
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "ttft_ms": 300,
        "duration_ms": 1200,
        "retries": 0,
    }
    return ProxyEvent(next(_ids), "complete", time.time(), data)


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def rows(accounting: Accounting) -> int:
    def count(db: AccountingDb) -> int:
        return int(db.connection.execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    return await accounting.query(count)


async def degraded(accounting: Accounting) -> bool:
    return accounting.storage_status().state == "degraded"


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock is waited out for 0.1 s, not 2 s, so that the test does not wait for nothing."""
    monkeypatch.setattr(accounting_module, "BUSY_TIMEOUT_MS", 100)


@pytest.fixture
async def accounting(tmp_path: Path, short_busy_timeout: None) -> AsyncIterator[Accounting]:
    running = Accounting(tmp_path / "proxy.db", 30, flush_delay_s=0.01)
    await running.open(100)
    writer = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await running.close()


async def test_a_locked_database_keeps_every_row_and_writes_them_once_released(
    accounting: Accounting,
) -> None:
    outsider = sqlite3.connect(accounting.path, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    for n in range(24):
        accounting.observe(request_end(f"locked-{n}"))
    await eventually(lambda: degraded(accounting))
    status = accounting.storage_status()
    assert status.pending_writes == 24 and status.dropped == 0
    assert "locked" in status.last_error and status.failing_since > 0
    started = time.monotonic()
    assert await rows(accounting) == 0  # a read does not queue behind the failing write
    assert time.monotonic() - started < 1.0
    outsider.execute("COMMIT")
    outsider.close()

    async def all_written() -> bool:
        return await rows(accounting) == 24

    await eventually(all_written)
    status = accounting.storage_status()
    assert status.state == "ok" and status.pending_writes == 0 and status.failing_since == 0


async def test_a_full_database_keeps_every_row_and_writes_them_when_space_returns(
    accounting: Accounting,
) -> None:
    await accounting.apart(lambda db: db.connection.execute("PRAGMA max_page_count = 1"))
    for n in range(20):
        accounting.observe(request_end(f"full-{n}-" + "x" * 2000))
    await eventually(lambda: degraded(accounting))
    status = accounting.storage_status()
    assert status.last_error == "database or disk is full" and status.pending_writes == 20
    await accounting.apart(lambda db: db.connection.execute("PRAGMA max_page_count = 1000000"))

    async def all_written() -> bool:
        return await rows(accounting) == 20

    await eventually(all_written)
    assert accounting.storage_status().state == "ok"


async def test_past_the_ceiling_the_oldest_are_dropped_and_counted(
    tmp_path: Path, short_busy_timeout: None
) -> None:
    bounded = Accounting(tmp_path / "proxy.db", 30, flush_delay_s=0.01, backlog_max=5)
    await bounded.open(100)
    outsider = sqlite3.connect(bounded.path, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    for n in range(4):
        bounded.observe(request_end(f"first-{n}"))
    assert await bounded.flush() is False
    for n in range(4):
        bounded.observe(request_end(f"then-{n}"))
    status = bounded.storage_status()
    assert (status.pending_writes, status.ceiling, status.dropped) == (5, 5, 3)
    outsider.execute("ROLLBACK")
    outsider.close()
    assert await bounded.flush() is True
    assert await rows(bounded) == 5
    await bounded.close()


# --- a stored response is acknowledged only once it is kept ----------------------------------


@pytest.fixture
async def door_to_conversations(
    accounting: Accounting, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ControllerClient]:
    """The real Conversations service on a unix socket, and the frontdoor's client of it."""
    monkeypatch.setattr(conversations, "PUT_WAIT_S", 0.5)
    with short_state_dir() as root:
        socket = Path(root) / "controller.sock"
        names = [controller_pb2.DESCRIPTOR.services_by_name["Conversations"].full_name]
        server = StandardServer(socket, names)
        servicer = ConversationsServicer(accounting)
        controller_pb2_grpc.add_ConversationsServicer_to_server(servicer, server.server)
        await server.start()
        client = ControllerClient(socket)
        try:
            yield client
        finally:
            await server.stop(0)


def finished_response(client: ControllerClient, response_id: str) -> tuple[Recorder, Any]:
    body = ResponsesRequest(model="sonnet", input="hello")
    chat = pb.ChatRequest(
        source="test",
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="hello")])],
    )
    recorder = Recorder(client, body, chat, [])
    builder = ResponseBuilder(response_id, int(time.time()), "sonnet", {})
    for event in (
        pb.Event(text=pb.TextDelta(text="hi there")),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="sonnet")),
    ):
        builder.collect(event)
        recorder.answer.observe(event)
    return recorder, builder


async def test_a_response_the_database_refuses_is_an_error_not_a_200(
    accounting: Accounting, door_to_conversations: ControllerClient
) -> None:
    client = door_to_conversations
    outsider = sqlite3.connect(accounting.path, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    recorder, builder = finished_response(client, "resp_locked")
    with pytest.raises(ApiError) as refused:
        await recorder.store(builder)
    error = refused.value
    assert (error.status, error.code, error.param) == (503, "storage_unavailable", "store")
    assert "'resp_locked' was not stored" in error.message and "locked" in error.message
    assert accounting.storage_status().state == "degraded"

    streamed = RecordingSse(ResponsesSse(builder), recorder)  # the same, streamed
    await streamed.before_end(True)
    closing = streamed.closing(True)
    assert b"response.failed" in closing and b"storage_unavailable" in closing
    assert b"response.completed" not in closing

    outsider.execute("ROLLBACK")
    outsider.close()
    await recorder.store(builder)  # the database takes writes again: kept, and acknowledged
    kept = await client.get_response("resp_locked", with_history=False)
    assert kept is not None and kept.id == "resp_locked"


# --- a database nobody can use stops the controller with one line ----------------------------


def run_controller(state_dir: Path, *wrapper: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STATE_DIR": str(state_dir), "WORKERS": "[]"}
    env.pop("SUPERVISOR_ENABLED", None)
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "controller"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_corrupt_database_is_one_line_and_a_clean_exit(tmp_path: Path) -> None:
    database = tmp_path / "proxy.db"
    database.write_bytes(os.urandom(64 * 1024))
    done = run_controller(tmp_path)
    assert done.returncode == EXIT_STORAGE_UNUSABLE
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(database) in lines[0] and f"mv {database} {database}.corrupt" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_read_only_state_dir_is_one_line_and_a_clean_exit(tmp_path: Path) -> None:
    """A real read-only STATE_DIR: a read-only bind mount in a user and mount namespace of the
    child's own (unshare -rm: no privilege needed where user namespaces are allowed), or, for a
    user that is not root, a directory without write permission."""
    state = tmp_path / "state"
    state.mkdir()
    mount = f'mount -o bind,ro {state} {state} && exec "$@"'
    unshare = shutil.which("unshare") or "unshare"
    probe = subprocess.run(
        [unshare, "-rm", "sh", "-c", mount, "sh", "true"], check=False, capture_output=True
    )
    if probe.returncode == 0:
        prefix: tuple[str, ...] = (unshare, "-rm", "sh", "-c", mount, "sh")
    else:
        assert os.geteuid() != 0, f"root without unshare -rm: {probe.stderr!r}"
        state.chmod(0o500)
        prefix = ()
    done = run_controller(state, *prefix)
    assert done.returncode == EXIT_STORAGE_UNUSABLE
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"STATE_DIR ({state}) must be a writable directory" in lines[0]
