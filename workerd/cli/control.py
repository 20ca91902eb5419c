"""The CLI's control protocol on a running process: our requests to it, and its requests of
our MCP server (docs/claude-cli.md, "Control requests" and "Client tools over MCP")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from workerd.cli.bridge import mcp_message
from workerd.cli.process import CliProcess

HANDSHAKE_TIMEOUT_S = 30.0


async def control(child: CliProcess, request: dict[str, Any]) -> bool:
    """One control request, answered with success within the handshake time.

    Used between turns (`initialize`, `apply_flag_settings`) and while client tool calls are
    held, when the CLI answers at once; lines read meanwhile are not a run's output.
    """
    request_id = f"{request['subtype'][:8]}-{uuid.uuid4().hex[:8]}"
    line = {"type": "control_request", "request_id": request_id, "request": request}
    await child.send_lines([json.dumps(line)])
    # NOTE: asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
    # lands as the read completes, and a warming task cancelled at close then waits forever.
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
            while raw := await child.read_line():
                with contextlib.suppress(ValueError, AttributeError):
                    response = json.loads(raw).get("response") or {}
                    if response.get("request_id") == request_id:
                        return bool(response.get("subtype") == "success")
    except TimeoutError:
        pass
    return False


async def tools_listed(child: CliProcess) -> bool:
    """With client tools, ready means the CLI has listed them (its MCP handshake done).

    The handshake lines are all the bridge's, which `read_line` answers and never returns, so
    this reads raw lines and checks after each one."""
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):  # as in `control`: never wait_for
            while child.bridge is not None and not child.bridge.listed:
                line = await child.read_raw_line()
                if not line:
                    return False
                if child.intercept is not None:
                    await child.intercept(line)
    except TimeoutError:
        return False
    return True


async def relay(child: CliProcess, line: bytes) -> bool:
    """A line the CLI addressed to our MCP server: answered here, never a run's output."""
    if child.bridge is None or b'"control_request"' not in line[:64]:
        return False
    try:
        found = mcp_message(json.loads(line))
    except ValueError:
        return False
    if found is None:
        return False
    await child.send_lines(child.bridge.handle(*found))
    return True
