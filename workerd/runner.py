"""One CLI run from request to last event: spawn, feed stdin, parse stdout, enforce time limits.

The run owns its child: whatever way the run ends (result, error, timeout, cancellation by
the client), the child is stopped and reaped before the run returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from common.errors import make_error
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.child_env import child_env
from workerd.cli_command import CliInvocation, UnsupportedRequest, build_chat_invocation
from workerd.config import WorkerdConfig
from workerd.process import CliProcess, ProcessTable
from workerd.stream_json import StreamJsonParser

logger = logging.getLogger(__name__)


class CliRunner:
    """Runs requests on this worker's account through fresh CLI children."""

    def __init__(self, config: WorkerdConfig, table: ProcessTable) -> None:
        self._config = config
        self._table = table

    async def run(self, request: pb.ChatRequest) -> AsyncIterator[pb.Event]:
        with tempfile.TemporaryDirectory(
            dir=self._config.paths.worker_dir(self._config.spec.name)
        ) as tmp:
            system_file = Path(tmp) / "system-prompt.txt"
            try:
                invocation = build_chat_invocation(
                    self._config.claude_bin, request, str(system_file)
                )
            except UnsupportedRequest as exc:
                yield make_error(pb.INVALID_REQUEST, str(exc), param=exc.param)
                return
            system_file.write_text(invocation.system_prompt, encoding="utf-8")
            child = await self._spawn(invocation, request)
            if child is None:
                yield make_error(pb.WORKER_CRASHED, "the Claude CLI could not be started")
                return
            try:
                async for event in self._events(child, invocation, request.stream):
                    yield event
            finally:
                await asyncio.shield(self._dispose(child))

    async def _spawn(self, invocation: CliInvocation, request: pb.ChatRequest) -> CliProcess | None:
        config = self._config
        env = child_env(
            os.environ,
            worker=config.spec.name,
            home=str(config.home),
            config_dir=str(config.config_dir),
            token=config.spec.token,
            api_key=config.spec.api_key,
            base_url=config.anthropic_base_url,
            max_retries=config.cli_max_retries,
            extra=dict(config.spec.env),
            request=invocation.env,
        )
        try:
            child = await CliProcess.spawn(
                invocation.argv, env, str(config.chat_dir), request.request_id, request.model
            )
        except OSError as exc:
            logger.error("cannot start %s: %s", config.claude_bin, exc)
            return None
        self._table.add(child)
        logger.info("child %d started for model %s", child.pid, request.model)
        return child

    async def _events(
        self, child: CliProcess, invocation: CliInvocation, stream: bool
    ) -> AsyncIterator[pb.Event]:
        config = self._config
        limit_ms = config.stream_timeout_ms if stream else config.sync_timeout_ms
        deadline = time.monotonic() + limit_ms / 1000
        parser = StreamJsonParser(tools_allowed=False)
        await child.send_lines(invocation.stdin_lines)
        while True:
            wait = min(deadline - time.monotonic(), config.max_idle_ms / 1000)
            try:
                line = await asyncio.wait_for(child.read_line(), max(wait, 0.001))
            except TimeoutError:
                yield self._timeout_error(deadline, limit_ms)
                return
            if not line:
                code = await child.wait()
                for event in parser.finish(code):
                    self._log_crash(child, code)
                    yield event
                return
            for event in parser.feed_line(line):
                yield event
            if parser.result_seen:
                child.close_stdin()  # the turn is over: let the CLI exit on its own

    def _timeout_error(self, deadline: float, limit_ms: int) -> pb.Event:
        if time.monotonic() >= deadline:
            return make_error(pb.TIMEOUT, f"the request exceeded its time limit of {limit_ms} ms")
        idle = self._config.max_idle_ms
        return make_error(pb.TIMEOUT, f"the Claude CLI produced no output for {idle} ms")

    def _log_crash(self, child: CliProcess, code: int) -> None:
        tail = mask_secrets(child.stderr_tail.decode(errors="replace").strip())[-500:]
        logger.warning("child %d ended without a result (code %s): %s", child.pid, code, tail)

    async def _dispose(self, child: CliProcess) -> None:
        try:
            await child.stop(self._config.stop_grace_ms / 1000)
        finally:
            self._table.remove(child)
