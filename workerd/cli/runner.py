"""One CLI run from request to last event: spawn, replay history, parse, enforce its timers.

The run owns its child: whatever way the run ends (result, error, timeout, cancellation by the
client), the child is stopped and reaped before the run returns. Timers: the run owns the
request's total limit and the first-output limit; the reaper owns silence and process age and
records why it stopped a child, which the run then reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from common.errors import make_error
from common.events import is_output
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.cli.child_env import child_env
from workerd.cli.command import CliInvocation, UnsupportedRequest, build_invocation
from workerd.cli.process import CliProcess, ProcessTable
from workerd.cli.reaper import work_dir_for
from workerd.cli.stream_json import StreamJsonParser
from workerd.config import WorkerdConfig
from workerd.image_fetch import ImageFetchError, inline_remote_images

logger = logging.getLogger(__name__)
HANDSHAKE_TIMEOUT_S = 30.0
OPERATOR_KILL = "killed by an operator"


class RunTimeout(Exception):
    """A timer owned by the run expired."""


class CliRunner:
    """Runs requests on this worker's account through fresh CLI children."""

    def __init__(self, config: WorkerdConfig, table: ProcessTable) -> None:
        self._config = config
        self._table = table

    @property
    def agent(self) -> bool:
        return self._config.spec.mode == "agent"

    async def run(self, request: pb.ChatRequest) -> AsyncIterator[pb.Event]:
        if self._config.fetch_remote_images:
            try:
                await inline_remote_images(request)
            except ImageFetchError as exc:
                yield make_error(pb.INVALID_REQUEST, str(exc), param="messages")
                return
        worker_dir = self._config.paths.worker_dir(self._config.spec.name)
        with tempfile.TemporaryDirectory(dir=worker_dir) as tmp:
            system_file = Path(tmp) / "system-prompt.txt"
            try:
                invocation = self._invocation(request, str(system_file))
            except UnsupportedRequest as exc:
                yield make_error(pb.INVALID_REQUEST, str(exc), param=exc.param)
                return
            system_file.write_text(invocation.system_prompt, encoding="utf-8")
            child = await self._spawn(invocation, request)
            if child is None:
                yield make_error(pb.WORKER_CRASHED, "the Claude CLI could not be started")
                return
            try:
                async for event in self._events(child, invocation, request):
                    yield event
            finally:
                await asyncio.shield(self._dispose(child))

    def _invocation(self, request: pb.ChatRequest, system_file: str) -> CliInvocation:
        settings = self._config.cli
        return build_invocation(
            self._config.claude_bin,
            request,
            system_file,
            agent=settings.agent if self.agent else None,
            max_prompt_chars=settings.max_prompt_chars,
        )

    async def _spawn(self, invocation: CliInvocation, request: pb.ChatRequest) -> CliProcess | None:
        config = self._config
        cwd = config.chat_dir
        if self.agent:  # a fresh, private working directory per request
            cwd = work_dir_for(config.work_root, request.request_id)
            cwd.mkdir(mode=0o700, parents=True, exist_ok=True)
        extra_env = dict(invocation.env)
        if self.agent and os.geteuid() == 0:
            extra_env["IS_SANDBOX"] = "1"  # the CLI refuses to skip permissions as root otherwise
        env = child_env(
            os.environ,
            worker=config.spec.name,
            state_dir=str(config.paths.root),
            home=str(config.home),
            config_dir=str(config.config_dir),
            token=config.spec.token,
            api_key=config.spec.api_key,
            base_url=config.anthropic_base_url,
            max_retries=config.cli_max_retries,
            extra=dict(config.spec.env),
            request=extra_env,
        )
        try:
            child = await CliProcess.spawn(
                invocation.argv, env, str(cwd), request.request_id, request.model
            )
        except OSError as exc:
            logger.error("cannot start %s: %s", config.claude_bin, exc)
            return None
        child.workdir = cwd if self.agent else None
        timers = config.cli.timers_for(request.model)
        # Agents may stay silent for long while their tools run: only MAX_IDLE_MS applies.
        idle_ms = config.max_idle_ms if self.agent else min(timers.idle_ms, config.max_idle_ms)
        child.idle_limit_s = idle_ms / 1000
        self._table.add(child)
        logger.info("child %d started (%s, model %s)", child.pid, config.spec.mode, request.model)
        return child

    async def _events(
        self, child: CliProcess, invocation: CliInvocation, request: pb.ChatRequest
    ) -> AsyncIterator[pb.Event]:
        config = self._config
        limit_ms = config.stream_timeout_ms if request.stream else config.sync_timeout_ms
        deadline = time.monotonic() + limit_ms / 1000
        first_ms = config.cli.timers_for(request.model).first_output_ms
        first_output_by = time.monotonic() + first_ms / 1000
        silent = f"the Claude CLI produced no output within {first_ms} ms"
        too_long = f"the request exceeded its time limit of {limit_ms} ms"
        parser = StreamJsonParser(
            tools_allowed=invocation.tools_allowed, structured=invocation.structured
        )
        try:
            await self._replay_history(child, invocation, deadline)
            await child.send_lines([invocation.final_line])
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
                    output_seen = output_seen or is_output(event)
                    yield event
                if parser.result_seen:
                    child.close_stdin()  # the turn is over: let the CLI exit on its own
                elif parser.done:
                    return  # complete before the CLI thinks so: disposing of the run stops it
        except RunTimeout as exc:
            yield make_error(pb.TIMEOUT, str(exc))

    @staticmethod
    async def _read(child: CliProcess, until: float, why: str) -> bytes:
        try:
            return await asyncio.wait_for(child.read_line(), max(until - time.monotonic(), 0.001))
        except TimeoutError:
            raise RunTimeout(why) from None

    async def _replay_history(
        self, child: CliProcess, invocation: CliInvocation, deadline: float
    ) -> None:
        """Earlier turns go in as real messages: each silent user line is acknowledged first."""
        until = min(deadline, time.monotonic() + HANDSHAKE_TIMEOUT_S)
        why = "the Claude CLI did not accept the conversation history"
        for role, line in invocation.history:
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

    async def _dispose(self, child: CliProcess) -> None:
        try:
            await child.stop(self._config.stop_grace_ms / 1000, "request ended")
        finally:
            self._table.remove(child)
            if child.workdir is not None:
                os.utime(child.workdir)  # retention counts from the end of the run


def _is_result(line: bytes) -> bool:
    try:
        return bool(json.loads(line).get("type") == "result")
    except (ValueError, AttributeError):
        return False
