"""One CLI turn from request to last event: a process from the engine, the turn, its timers.

The engine lends the run a process (its conversation's, a warm one or a new one) and takes it
back afterwards: parked for the conversation when the turn succeeded, stopped and reaped
otherwise, whatever way the run ended (result, error, timeout, cancellation by the client).
Timers: the run owns the request's total limit and the first-output limit; the reaper owns
silence and per-turn age and records why it stopped a child, which the run then reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from common.errors import make_error
from common.events import is_output
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.cli.bridge import client_names
from workerd.cli.control import HANDSHAKE_TIMEOUT_S, control
from workerd.cli.engine import Lease, SessionEngine
from workerd.cli.image_fetch import inline_remote_images
from workerd.cli.invocation import CliInvocation, build_invocation, settings_request
from workerd.cli.outcome import TurnOutcome
from workerd.cli.process import CliProcess
from workerd.cli.sessions import WARM
from workerd.cli.stream_json import StreamJsonParser
from workerd.config import WorkerdConfig
from workerd.errors import UnservableRequest
from workerd.preparing import prepared

logger = logging.getLogger(__name__)
OPERATOR_KILL = "killed by an operator"


class RunTimeout(Exception):
    """A timer owned by the run expired."""


@dataclass(frozen=True)
class TurnTimers:
    """A request's time limits (ms), looked up once: the run keeps the first two; the silence
    limit goes to the process, which the reaper watches."""

    total_ms: int
    first_output_ms: int
    idle_ms: int


class CliRunner:
    """Runs requests on this worker's account through the engine's CLI processes."""

    def __init__(self, config: WorkerdConfig, engine: SessionEngine) -> None:
        self._config = config
        self._engine = engine

    @property
    def agent(self) -> bool:
        return self._config.spec.mode == "agent"

    async def run(
        self, request: pb.ChatRequest, key: str = "", opened_at: float = 0.0
    ) -> AsyncIterator[pb.Event]:
        """The turn's events; `opened_at` is when the conversation opened (0: unknown)."""
        timers = self._timers(request)
        try:
            if self._config.fetch_remote_images:
                await inline_remote_images(request)
        except UnservableRequest as exc:
            yield exc.event()
            return
        async with prepared(lambda: self._invocation(request), request) as invocation:
            if isinstance(invocation, pb.Event):
                yield invocation
                return
            turn = self._turn(request, invocation, key, opened_at, timers)
            async with contextlib.aclosing(turn) as events:  # released at once, however it ends
                async for event in events:
                    yield event

    async def _turn(
        self,
        request: pb.ChatRequest,
        invocation: CliInvocation,
        key: str,
        opened_at: float,
        timers: TurnTimers,
    ) -> AsyncGenerator[pb.Event, None]:
        """The turn on a process of the engine's: a warm one that fails at once is replaced by
        a cold one."""
        idle_s, cold = timers.idle_ms / 1000, False
        while True:
            lease = await self._engine.acquire(
                invocation, key, request, idle_s, cold=cold, opened_at=opened_at
            )
            if lease is None:
                yield make_error(pb.WORKER_CRASHED, "the Claude CLI could not be started")
                return
            yield lease.session_event()
            outcome = TurnOutcome()
            warm_failed = False
            try:
                async with contextlib.aclosing(
                    self._events(lease, invocation, timers, outcome)
                ) as events:
                    async for event in events:
                        if self._warm_failure(lease, outcome, event) and not cold:
                            warm_failed = True
                            break
                        outcome.observe(event)
                        yield event
            finally:
                self._engine.release(lease, outcome.held(invocation), "failed", outcome.awaiting)
            if not warm_failed:
                return
            # A warm process died on its first message: this request goes cold, and so do the
            # next ones of this signature for a while (the worker says so).
            cold = True
            self._engine.fall_back(invocation.signature)
            detail = f"signature {invocation.signature.key}: warm process failed, spawning cold"
            yield pb.Event(activity=pb.Activity(kind="warm_fallback", detail=detail))

    @staticmethod
    def _warm_failure(lease: Lease, outcome: TurnOutcome, event: pb.Event) -> bool:
        return (
            lease.plan.served == WARM
            and not outcome.output_seen
            and event.WhichOneof("kind") == "error"
            and event.error.code == pb.WORKER_CRASHED
        )

    def _invocation(self, request: pb.ChatRequest) -> CliInvocation:
        settings = self._config.cli
        return build_invocation(
            self._config.claude_bin,
            request,
            "",  # each process gets its own system prompt file (the spawner writes it)
            agent=settings.agent if self.agent else None,
            max_prompt_chars=settings.max_prompt_chars,
        )

    def _timers(self, request: pb.ChatRequest) -> TurnTimers:
        config = self._config
        family = config.cli.timers_for(request.model)
        # Agents may stay silent for long while their tools run: only MAX_IDLE_MS applies.
        idle_ms = config.max_idle_ms if self.agent else min(family.idle_ms, config.max_idle_ms)
        total_ms = config.stream_timeout_ms if request.stream else config.sync_timeout_ms
        return TurnTimers(total_ms, family.first_output_ms, idle_ms)

    async def _events(
        self, lease: Lease, invocation: CliInvocation, timers: TurnTimers, outcome: TurnOutcome
    ) -> AsyncGenerator[pb.Event, None]:
        child = lease.child
        deadline = time.monotonic() + timers.total_ms / 1000
        first_output_by = time.monotonic() + timers.first_output_ms / 1000
        silent = f"the Claude CLI produced no output within {timers.first_output_ms} ms"
        too_long = f"the request exceeded its time limit of {timers.total_ms} ms"
        parser = self._parser(lease, invocation)
        try:
            refused = await self._send_turn(lease, invocation.env, deadline)
            if refused is not None:
                yield refused
                return
            output_seen = False
            while True:
                waiting_first = not output_seen and first_output_by < deadline
                limit, why = (first_output_by, silent) if waiting_first else (deadline, too_long)
                line = await self._read(child, limit, why)
                if not line:
                    for event in await self._ended(child, parser):
                        yield event
                    return
                for event in parser.feed_line(line):
                    if not output_seen and is_output(event):
                        output_seen = True
                        self._engine.turn_answering()
                    yield event
                if parser.result_seen:
                    outcome.result_ok = parser.result_clean
                    return  # the turn is over; the process stays for the conversation
                if parser.done and parser.awaiting_tools:
                    outcome.awaiting = tuple(parser.awaiting_tools)
                    return  # the client runs its tools; the process waits for the results
                if parser.done:
                    return  # complete before the CLI thinks so: the engine retires it
        except RunTimeout as exc:
            yield make_error(pb.TIMEOUT, str(exc))

    @staticmethod
    def _parser(lease: Lease, invocation: CliInvocation) -> StreamJsonParser:
        signature = invocation.signature
        return StreamJsonParser(
            tools_allowed=signature.tools_allowed,
            structured=signature.structured,
            client_tools=bool(signature.client_tools),
            tool_names=client_names(tool.name for tool in signature.client_tools),
            resumed=lease.results is not None,
        )

    async def _send_turn(
        self, lease: Lease, env: dict[str, str], deadline: float
    ) -> pb.Event | None:
        """The request's settings, if the process runs with others, then its turn; an error
        event if the CLI refuses the settings."""
        child = lease.child
        if child.sampling != env:  # a warm or live process: new settings first
            if not await control(child, settings_request(env)):
                message = "the Claude CLI did not accept the request's settings"
                return make_error(pb.WORKER_CRASHED, message)
            child.sampling = dict(env)
        if lease.results is not None and child.bridge is not None:
            await child.send_lines(child.bridge.give(lease.results))  # the turn goes on
        else:
            await self._replay_history(child, lease.history, deadline)
            await child.send_lines([lease.final_line])
        return None

    @staticmethod
    async def _read(child: CliProcess, until: float, why: str) -> bytes:
        try:
            return await asyncio.wait_for(child.read_line(), max(until - time.monotonic(), 0.001))
        except TimeoutError:
            raise RunTimeout(why) from None

    async def _replay_history(
        self, child: CliProcess, history: list[tuple[str, str]], deadline: float
    ) -> None:
        """Earlier turns go in as real messages: each silent user line is acknowledged first."""
        until = min(deadline, time.monotonic() + HANDSHAKE_TIMEOUT_S)
        why = "the Claude CLI did not accept the conversation history"
        for role, line in history:
            await child.send_lines([line])
            if role == "user":
                while (ack := await self._read(child, until, why)) and not _is_result(ack):
                    pass
                if not ack:
                    return  # the CLI died; the main loop reports it

    async def _ended(self, child: CliProcess, parser: StreamJsonParser) -> list[pb.Event]:
        code = await child.wait()
        if child.kill_reason == "idle":
            idle = int(child.idle_limit_s * 1000)
            return [make_error(pb.TIMEOUT, f"the Claude CLI produced no output for {idle} ms")]
        if child.kill_reason == OPERATOR_KILL:
            # Deliberate: the client learns why, and the controller does not retry it elsewhere.
            return [make_error(pb.CANCELLED, "the run was stopped by an operator")]
        if child.kill_reason:
            return [make_error(pb.TIMEOUT, f"the Claude CLI was stopped ({child.kill_reason})")]
        events = parser.finish(code)
        if events:
            tail = mask_secrets(child.stderr_tail.decode(errors="replace").strip())[-500:]
            logger.warning("child %d ended without a result (code %s): %s", child.pid, code, tail)
        return events


def _is_result(line: bytes) -> bool:
    try:
        return bool(json.loads(line).get("type") == "result")
    except (ValueError, AttributeError):
        return False
