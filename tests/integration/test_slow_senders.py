"""Slow senders cannot hold the frontdoor's sockets: a request head must arrive within
CLIENT_HEADER_TIMEOUT_MS of connecting (the real frontdoor process, as started in production)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.stack import Stack

pytestmark = pytest.mark.stack
SLOW_SENDERS = 50


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    workers = [{"name": "api", "mode": "api", "api_key": "sk-ant-api03-test"}]
    started = Stack(
        {
            "WORKERS": json.dumps(workers),
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
            "CLIENT_HEADER_TIMEOUT_MS": "1000",
        }
    ).start()
    yield started
    started.stop()


def closed_by_server(conn: socket.socket) -> bool:
    try:
        return conn.recv(4096) == b""
    except (BlockingIOError, TimeoutError):
        return False
    except ConnectionError:
        return True


def test_connections_that_dribble_their_head_are_closed(stack: Stack) -> None:
    host, port = "127.0.0.1", int(stack.base_url.rsplit(":", 1)[1])
    senders = [socket.create_connection((host, port)) for _ in range(SLOW_SENDERS)]
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    started = time.monotonic()
    closed: set[int] = set()
    for offset in range(len(head)):  # one byte per sender every 50 ms: never a whole head
        for n, conn in enumerate(senders):
            if n in closed:
                continue
            try:
                conn.sendall(head[offset : offset + 1])
            except OSError:
                closed.add(n)
                continue
            conn.settimeout(0.001)
            if closed_by_server(conn):
                closed.add(n)
        if len(closed) == SLOW_SENDERS or time.monotonic() - started > 20:
            break
        time.sleep(0.05)

    assert len(closed) == SLOW_SENDERS
    assert time.monotonic() - started < 10  # about the 1 s limit, not the bytes they had left
    for conn in senders:
        conn.close()
    assert stack.get("/health")[0] in (200, 503)  # still serving
