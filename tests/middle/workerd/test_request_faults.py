"""No request's content can take a workerd down (issue 21).

The real WorkerServicer on its gRPC socket, in cli mode (the fake CLI) and in api mode (the mock
Messages API): a request whose content once broke the Run stream (so the controller marked the
worker down) ends with its own error event, the worker goes on serving, and a large request is
prepared while the worker's health check is answered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.events import unbatched
from common.paths import StatePaths
from common.rpc import StandardServer, open_channel
from common.workers import WorkerSpec
from protos import common_pb2 as pb
from protos import worker_pb2, worker_pb2_grpc
from tests.middle.inprocess import short_state_dir
from tests.mock_upstream import MockUpstream
from tests.stack import FAKE_CLAUDE
from workerd.api import runner as api_runner
from workerd.api.runner import ApiRunner
from workerd.cli import runner as cli_runner
from workerd.cli.engine import SessionEngine
from workerd.cli.process import ProcessTable
from workerd.config import WorkerdConfig
from workerd.preparing import OFF_LOOP_MESSAGES
from workerd.servicer import FAILED_ON_REQUEST, WorkerServicer

pytestmark = pytest.mark.middle

DEEP = '{"a": ' + "[" * 990 + "]" * 990 + "}"
WAIT_S = 5.0


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream() as server:
        yield server


class Workerd:
    """One workerd's Worker service and health on a unix socket, in this event loop."""

    def __init__(self, root: Path, mode: str, base_url: str) -> None:
        spec = WorkerSpec(name="w", mode=mode, api_key="sk-ant-api03-x" if mode == "api" else "")
        self.config = WorkerdConfig(
            spec=spec,
            paths=StatePaths(root),
            claude_bin=str(FAKE_CLAUDE),
            anthropic_base_url=base_url,
            stream_timeout_ms=20_000,
            sync_timeout_ms=20_000,
            max_process_age_ms=600_000,
            max_idle_ms=20_000,
            cli_max_retries=0,
            stop_grace_ms=500,
        )
        self.config.ensure_dirs()
        self.table = ProcessTable()
        self.engine = SessionEngine(self.config, self.table)
        self.api = ApiRunner(self.config) if mode == "api" else None
        self.servicer = WorkerServicer(self.config, self.table, self.api, None, self.engine)
        name = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name
        self.server = StandardServer(self.config.paths.worker_socket("w"), [name])
        worker_pb2_grpc.add_WorkerServicer_to_server(self.servicer, self.server.server)
        self.channel = open_channel(self.config.paths.worker_socket("w"))

    async def run(self, request: pb.ChatRequest) -> list[pb.Event]:
        """The Run's events; a broken stream raises (grpc.aio.AioRpcError)."""
        stub = worker_pb2_grpc.WorkerStub(self.channel)
        call = stub.Run(worker_pb2.RunRequest(chat=request, attempt=1))
        return [event async for message in call for event in unbatched(message)]

    async def serving(self) -> bool:
        reply = await health_pb2_grpc.HealthStub(self.channel).Check(
            health_pb2.HealthCheckRequest(), timeout=WAIT_S
        )
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self.channel.close()
        await self.engine.close()
        await self.table.stop_all(0.5)
        if self.api is not None:
            await self.api.aclose()
        await self.server.server.stop(0)


@pytest.fixture(params=["cli", "api"])
async def workerd(request: Any, mock: MockUpstream) -> AsyncIterator[Workerd]:
    with short_state_dir() as root:
        worker = Workerd(Path(root), request.param, mock.base_url)
        await worker.server.start()
        try:
            yield worker
        finally:
            await worker.close()


def ask(text: str = "hello") -> pb.ChatRequest:
    request = pb.ChatRequest(request_id="r1", model="sonnet", stream=True)
    request.messages.add(role=pb.ROLE_USER).content.add(text=text)
    return request


def with_tool_call(arguments: str) -> pb.ChatRequest:
    request = ask()
    request.tools.add(name="f", parameters_json='{"type": "object"}')
    call = pb.ToolUseBlock(id="call_1", name="f", arguments_json=arguments)
    request.messages.add(role=pb.ROLE_ASSISTANT).content.add(tool_use=call)
    result = pb.ToolResultBlock(tool_use_id="call_1", content="done")
    request.messages.add(role=pb.ROLE_TOOL).content.add(tool_result=result)
    return request


def errors(events: list[pb.Event]) -> list[pb.Error]:
    return [event.error for event in events if event.HasField("error")]


def answered(events: list[pb.Event]) -> bool:
    return not errors(events) and any(event.HasField("finish") for event in events)


@pytest.mark.parametrize("arguments", [DEEP, '{"a": NaN}', '{"a": 1e999}'])
async def test_tool_arguments_that_broke_the_stream_are_the_requests_400(
    workerd: Workerd, arguments: str
) -> None:
    [error] = errors(await workerd.run(with_tool_call(arguments)))

    assert error.code == pb.INVALID_REQUEST
    assert await workerd.serving()
    assert answered(await workerd.run(ask()))


async def test_whatever_else_a_build_raises_is_the_requests_400(
    workerd: Workerd, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("Python int too large to convert to C long")

    monkeypatch.setattr("workerd.cli.runner.build_invocation", overflow)
    monkeypatch.setattr("workerd.api.runner.build_call", overflow)

    [error] = errors(await workerd.run(ask()))

    assert error.code == pb.INVALID_REQUEST and "out of range" in error.message


async def test_a_runner_that_raises_ends_the_run_with_an_error_not_a_broken_stream(
    workerd: Workerd, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> AsyncIterator[pb.Event]:
        yield pb.Event(text=pb.TextDelta(text="partial"))
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(workerd.servicer, "_run", broken)

    events = await workerd.run(ask())

    assert events[0].text.text == "partial"
    assert [(e.code, e.message) for e in errors(events)] == [(pb.INTERNAL, FAILED_ON_REQUEST)]


async def test_a_large_request_is_prepared_while_the_health_check_is_answered(
    workerd: Workerd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build, once started, waits for a health check to be answered: on the event loop it
    would wait in vain (the loop is the build's), off it the check comes through."""
    started, health_answered = threading.Event(), threading.Event()
    waits: list[bool] = []

    def waiting(build: Callable[..., Any]) -> Callable[..., Any]:
        def build_after_a_check(*args: Any, **kwargs: Any) -> Any:
            started.set()
            waits.append(health_answered.wait(WAIT_S))
            return build(*args, **kwargs)

        return build_after_a_check

    monkeypatch.setattr(cli_runner, "build_invocation", waiting(cli_runner.build_invocation))  # type: ignore[attr-defined]
    monkeypatch.setattr(api_runner, "build_call", waiting(api_runner.build_call))  # type: ignore[attr-defined]
    request = ask("first")
    for n in range(OFF_LOOP_MESSAGES + 2):  # ends on a user message
        role = pb.ROLE_ASSISTANT if n % 2 == 0 else pb.ROLE_USER
        request.messages.add(role=role).content.add(text=f"m{n}")

    run = asyncio.ensure_future(workerd.run(request))
    try:
        assert await asyncio.to_thread(started.wait, WAIT_S)
        assert await workerd.serving()
    finally:
        health_answered.set()
    assert answered(await run)
    assert waits == [True], "the health check was not answered while the request was prepared"
