"""The frontdoor's edge in process: the real app on a real TCP port, a scripted controller behind
it, raw HTTP in (for bytes no client library would send) and every log record kept.

Used by the hostile-input and log-masking tests."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from common.models import ModelCatalog
from common.paths import StatePaths
from frontdoor.app import create_app
from frontdoor.config import FrontdoorConfig
from protos import common_pb2 as pb

TOKEN = "edge-test-token-5f0c9a7e21d4"


class ScriptedCall:
    def __init__(self, events: Sequence[pb.Event]) -> None:
        self.events = events

    async def __aiter__(self) -> AsyncIterator[pb.Event]:
        for event in self.events:
            yield event

    def cancel(self) -> None:
        pass


class ScriptedController:
    """Answers every call with a short successful text answer; keeps the requests."""

    def __init__(self) -> None:
        self.requests: list[pb.ChatRequest] = []

    def complete(self, request: pb.ChatRequest) -> ScriptedCall:
        self.requests.append(request)
        return ScriptedCall(
            [
                pb.Event(started=pb.Started(worker="w1", mode="api")),
                pb.Event(text=pb.TextDelta(text="hello")),
                pb.Event(finish=pb.Finish(reason=pb.FINISH_STOP, model="claude-sonnet-test")),
            ]
        )

    async def close(self) -> None:
        pass


class RecordKeeper(logging.Handler):
    """Every record logged anywhere while the edge runs, formatted as the processes format them
    (message and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(self.format(record) for record in self.records)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Edge:
    port: int
    controller: ScriptedController
    log: RecordKeeper
    extra: dict[str, Any] = field(default_factory=dict)

    async def send(self, raw: bytes) -> Reply:
        """One raw HTTP/1.1 exchange on a fresh connection (the request must close it)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(raw)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Reply(int(status_line.split()[1]), headers, body)

    async def request(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes | None = None,
    ) -> Reply:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: localhost", b"Connection: close"]
        if body is not None:
            lines += [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
        lines += [name + b": " + value for name, value in headers]
        return await self.send(b"\r\n".join(lines) + b"\r\n\r\n" + (body or b""))


def edge_config(root: Path, token: str = TOKEN) -> FrontdoorConfig:
    return FrontdoorConfig(
        host="127.0.0.1",
        port=0,
        auth_token=token,
        paths=StatePaths(root),
        models=ModelCatalog(),
        max_body_bytes=1 << 20,
        workers_configured=1,
        stream_commit_ms=15_000,
    )


async def start_edge(root: Path, handler: logging.Handler | None = None) -> AsyncIterator[Edge]:
    """The app on 127.0.0.1 with every logger's records kept (and also sent to `handler`)."""
    keeper = RecordKeeper()
    root_logger = logging.getLogger()
    saved_level = root_logger.level
    added = [keeper] if handler is None else [keeper, handler]
    for each in added:
        root_logger.addHandler(each)
    root_logger.setLevel(logging.DEBUG)
    controller = ScriptedController()
    server = TestServer(create_app(edge_config(root), controller), host="127.0.0.1")  # type: ignore[arg-type]
    await server.start_server()
    try:
        assert server.port is not None
        yield Edge(server.port, controller, keeper)
    finally:
        await server.close()
        for each in added:
            root_logger.removeHandler(each)
        root_logger.setLevel(saved_level)
