"""Proxy overhead: one completion through the whole stack vs the same CLI run started directly.

Both sides run the pinned CLI with the same flags against the same mock upstream on 127.0.0.1,
interleaved in one run, so the ratio isolates what frontdoor, controller and workerd add. The
stack runs with MAX_IDLE_PROCESSES=0 (a new process per request, no warm pool) and the direct
run gets workerd's child environment, so both sides pay the same start-up.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import write_result
from protos import common_pb2 as pb
from tests.mock_upstream import MockUpstream
from tests.stack import Stack, claude_bin
from workerd.cli.child_env import child_env
from workerd.cli.command import build_invocation

ROUNDS = 8


@dataclass(frozen=True)
class DirectCli:
    """A `claude -p` started by hand the way workerd starts one: its argv, env and user line."""

    argv: list[str]
    env: dict[str, str]
    final_line: str


def direct_cli(base_url: str, home: Path, text: str = "bench direct") -> DirectCli:
    """The proxy's flags and child environment for a one-message chat, in `home`."""
    request = pb.ChatRequest(request_id="bench", model="sonnet")
    request.messages.add(role=pb.ROLE_USER).content.add(text=text)
    system = home / "system.txt"
    system.write_text("")
    invocation = build_invocation(
        claude_bin(), request, str(system), agent=None, max_prompt_chars=400_000
    )
    env = child_env(
        os.environ,
        worker="bench",
        state_dir=str(home),
        home=str(home),
        config_dir=str(home / "config"),
        token="sk-ant-oat01-bench",
        api_key="",
        base_url=base_url,
        max_retries=1,
        extra={},
        request=invocation.env,
    )
    return DirectCli(invocation.argv, env, invocation.final_line)


def _direct_run(base_url: str, home: Path) -> float:
    cli = direct_cli(base_url, home)
    started = time.monotonic()
    subprocess.run(
        cli.argv,
        input=cli.final_line + "\n",
        env=cli.env,
        cwd=home,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return time.monotonic() - started


def _proxy_run(stack: Stack) -> float:
    started = time.monotonic()
    stack.client().chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": "bench proxy"}]
    )
    return time.monotonic() - started


def main() -> None:
    with MockUpstream() as upstream:
        workers = [{"name": "1", "bin": claude_bin(), "token": "sk-ant-oat01-bench", "mode": "cli"}]
        # One spawn per request on both sides: warm processes and live conversations would
        # hide the start-up this ratio compares (bench/sessions.py measures what they save).
        settings = {
            "WORKERS": json.dumps(workers),
            "ANTHROPIC_BASE_URL": upstream.base_url,
            "MAX_IDLE_PROCESSES": "0",
        }
        stack = Stack(settings)
        stack.start()
        try:
            home = Path(tempfile.mkdtemp(prefix="ccp-bench-"))
            _direct_run(upstream.base_url, home), _proxy_run(stack)  # warm both paths once
            direct, proxied = [], []
            for _ in range(ROUNDS):
                direct.append(_direct_run(upstream.base_url, home))
                proxied.append(_proxy_run(stack))
            upstream.clear()
            _proxy_run(stack)
            body_bytes = upstream.message_requests()[0].size
        finally:
            stack.stop()
    d, p = statistics.median(direct), statistics.median(proxied)
    write_result(
        "overhead",
        {"direct_s": direct, "proxy_s": proxied, "upstream_body_bytes": body_bytes},
        [
            ("median completion through the proxy / direct CLI run", f"{p / d:.2f}x"),
            ("median added by the proxy", f"{(p - d) * 1000:.0f} ms"),
            ("upstream request body, trivial chat", f"{body_bytes} bytes"),
            (
                "same, original proxy (reference, about 115 KB)",
                f"{115_000 / body_bytes:.0f}x larger",
            ),
        ],
    )


if __name__ == "__main__":
    main()
