"""The key tool (`python -m controller.keys`, controller/keys/cli.py) in this process against the
controller's real Admin service on its socket, as a new user would run it."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.keys.cli import run
from protos import common_pb2 as pb
from tests.middle.inprocess import Rig, short_state_dir

pytestmark = pytest.mark.middle


class Tool:
    """Runs the tool with STATE_DIR set as the proxy's; keeps what it wrote."""

    def __init__(self, state_dir: Path) -> None:
        self.environ = {"STATE_DIR": str(state_dir), "CLAUDE_PROXY_PORT": "8411"}

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = await run(argv, self.environ, out, err)
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    with short_state_dir() as root:
        rig = await Rig.start(Path(root), {"c": "cli", "a": "api"})
        await rig.serve_admin()
        try:
            yield rig
        finally:
            await rig.stop()


async def test_a_new_user_makes_lists_shows_changes_and_revokes_a_key(rig: Rig) -> None:
    tool = Tool(rig.config.paths.root)
    code, out, err = await tool(
        "create",
        "alice-ide",
        "--rpm",
        "60",
        "--daily-tokens",
        "1000000",
        "--models",
        "sonnet,haiku",
        "--expires",
        "30d",
    )
    assert (code, err) == (0, "")
    secret = re.search(r"sk-ccp-[A-Za-z0-9_-]{43}", out)
    assert secret is not None
    assert "only time the secret is shown" in out
    assert f"OPENAI_BASE_URL=http://127.0.0.1:8411/v1 OPENAI_API_KEY={secret[0]}" in out
    key_id = re.search(r"id (key_[0-9a-f]{12})", out)
    assert key_id is not None

    code, out, _ = await tool("list")
    assert code == 0 and "alice-ide" in out and secret[0] not in out
    assert "60 requests/min" in out and "models sonnet,haiku" in out

    rig.workers["c"].script = [
        pb.Event(text=pb.TextDelta(text="ok")),
        pb.Event(usage=pb.Usage(input_tokens=120, output_tokens=30)),
    ]
    await rig.complete(
        pb.ChatRequest(request_id="r1", model="sonnet", key_id=key_id[1], messages=[])
    )
    code, out, _ = await tool("show", "alice-ide")
    assert code == 0
    assert "today: 1 requests, 150 tokens" in out
    assert "day budget: 150 tokens of 1,000,000 tokens used" in out
    assert "requests this minute: 59 of 60 left" in out

    code, out, _ = await tool("update", key_id[1], "--clear", "rpm,models", "--weight", "2")
    assert code == 0 and "weight 2" in out and "requests/min" not in out

    code, out, _ = await tool("revoke", "alice-ide")
    assert code == 0 and "is revoked" in out
    code, out, _ = await tool("list")
    assert (code, out.strip()) == (0, "no keys yet")
    code, out, _ = await tool("list", "--all")
    assert "alice-ide" in out and "revoked" in out


async def test_errors_are_one_line_and_exit_1(rig: Rig) -> None:
    tool = Tool(rig.config.paths.root)
    assert (await tool("create", "bob"))[0] == 0
    code, out, err = await tool("create", "bob")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("error: a key named 'bob' exists")
    code, _, err = await tool("create", "carol", "--for-another-person", "--pools", "cli")
    assert code == 1 and "Account terms" in err
    code, _, err = await tool("revoke", "nobody")
    assert (code, err) == (1, "error: no key named 'nobody'\n")
    code, _, err = await tool("create", "dave", "--expires", "someday")
    assert code == 1 and "--expires takes" in err


async def test_with_no_controller_the_tool_says_how_to_start_it(tmp_path: Path) -> None:
    code, out, err = await Tool(tmp_path)("list")
    assert (code, out) == (1, "")
    assert "the controller is not running" in err and "make run" in err
    assert str(tmp_path / "controller.sock") in err
