"""The Codex CLI (pinned by `make clients`) configured for the proxy as a custom model provider
(Responses wire API), running `codex exec` against an `api` worker and a `cli` worker (the real
pinned claude CLI), both on the mock upstream.

Codex sends what it sends to OpenAI: developer messages, an environment-context user message,
function tools, a `namespace` tool group (multi_agent_v1), a hosted `web_search` tool, and with
a catalog model a freeform `custom` tool (apply_patch) and `tool_search`; plus `store: false`,
`include`, `prompt_cache_key`, `client_metadata`, `reasoning.summary`, `text.verbosity`. Each
run completes a prompt with approvals off, a sandbox, and no network but the proxy (every
other destination goes to a dead HTTP proxy)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients import codex_bin
from tests.mock_scenarios import tool_answer
from tests.mock_upstream import MockUpstream, RecordedRequest, conversation, echo_reply
from tests.stack import TOKEN, Stack

pytestmark = pytest.mark.stack
DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens: any request not for the proxy fails
BRIDGE = "mcp__c__"  # how a cli worker's model sees client tools


@pytest.fixture(params=["api", "cli"])
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Stack:
    return stacks[str(request.param)]


def config_toml(stack: Stack, sandbox: str, catalog: Path | None) -> str:
    """Codex's config.toml for the proxy (the README shows the same provider table)."""
    lines = [
        'model = "sonnet"',
        'model_provider = "claude-proxy"',
        'approval_policy = "never"',
        f'sandbox_mode = "{sandbox}"',
        "check_for_update_on_startup = false",
    ]
    if catalog is not None:
        lines.append(f'model_catalog_json = "{catalog}"')
    lines += [
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[model_providers.claude-proxy]",
        'name = "Claude Code Proxy"',
        f'base_url = "{stack.base_url}/v1"',
        'env_key = "CLAUDE_PROXY_TOKEN"',
        'wire_api = "responses"',
    ]
    return "\n".join(lines) + "\n"


@dataclass
class CodexRun:
    stdout: str
    stderr: str
    last_message: str


def codex_env(home: Path, token: str = TOKEN) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "CODEX_HOME": str(home),
        "CLAUDE_PROXY_TOKEN": token,
        "HTTPS_PROXY": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
    }


def codex_exec(
    stack: Stack,
    tmp_path: Path,
    prompt: str,
    sandbox: str = "read-only",
    catalog: Path | None = None,
    token: str = TOKEN,
) -> CodexRun:
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    (home / "config.toml").write_text(config_toml(stack, sandbox, catalog))
    last = home / "last-message.txt"
    command = [codex_bin(), "exec", "--skip-git-repo-check", "--ephemeral", "-o", str(last)]
    done = subprocess.run(
        [*command, prompt],
        cwd=work,
        env=codex_env(home, token),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"codex exec failed ({done.returncode}):\n{done.stderr}"
    assert last.is_file(), f"codex wrote no last message:\n{done.stderr}"
    return CodexRun(done.stdout, done.stderr, last.read_text())


def catalog_with_sonnet(tmp_path: Path, lite: bool = False) -> Path:
    """Codex's own catalog entry of a model with the freeform apply_patch tool, as `sonnet`:
    with it Codex sends its custom tools to the proxy (without, it uses fallback metadata).
    With `lite`, a "responses lite" entry: its tools come in an `additional_tools` input item."""
    home = tmp_path / "catalog-home"
    home.mkdir()
    done = subprocess.run(
        [codex_bin(), "debug", "models"],
        env=codex_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    models = json.loads(done.stdout)["models"]
    chosen = [
        m
        for m in models
        if bool(m.get("use_responses_lite")) == lite
        and (lite or m.get("apply_patch_tool_type") == "freeform")
    ]
    assert chosen, f"Codex's catalog has no such model (lite: {lite})"
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": [{**chosen[0], "slug": "sonnet"}]}))
    return path


def upstream_for(upstream: MockUpstream, marker: str) -> list[dict[str, Any]]:
    """The bodies of the upstream requests whose conversation carries `marker`."""
    return [body for r in upstream.message_requests() if (body := _mentioning(r, marker))]


def _mentioning(request: RecordedRequest, marker: str) -> dict[str, Any] | None:
    body = request.json
    if isinstance(body, dict) and marker in json.dumps(body.get("messages")):
        return body
    return None


def tool_names(body: dict[str, Any]) -> list[str]:
    return [str(t["name"]).removeprefix(BRIDGE) for t in body.get("tools") or []]


def tool_uses(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_use"
    ]


def test_codex_exec_answers_a_prompt(
    stack: Stack, upstream: MockUpstream, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    prompt = f"codex says hello ({request.node.callspec.id})"
    run = codex_exec(stack, tmp_path, prompt)

    # Codex writes its environment context as a user message before the prompt; the mock
    # echoes the user's whole turn.
    assert run.last_message.startswith(echo_reply("<environment_context>"))
    assert run.last_message.endswith(prompt)
    assert run.last_message in run.stdout
    [body] = upstream_for(upstream, prompt)
    names = tool_names(body)
    assert "exec_command" in names and "multi_agent_v1__wait_agent" in names
    assert not [name for name in names if "web_search" in name], "hosted tools are left out"
    assert "Codex CLI" in json.dumps(body["system"]), "developer messages are the system prompt"


@pytest.mark.parametrize(
    ("tool", "codex_says"),
    [
        ("exec_command", "failed to parse function arguments: missing field `cmd`"),
        ("multi_agent_v1__wait_agent", "agent ids must be non-empty"),
    ],
)
def test_codex_runs_a_function_tool_and_sends_back_its_output(
    stack: Stack, upstream: MockUpstream, tmp_path: Path, tool: str, codex_says: str
) -> None:
    """The mock calls the tool with arguments Codex refuses; Codex's own refusal, sent back as
    the call's output, is what the model answers with. A namespace member reaches Codex under
    its own name in its namespace (Codex ran wait_agent)."""
    prompt = f"SCN:fn_call:{tool}"
    run = codex_exec(stack, tmp_path, prompt)

    assert run.last_message.startswith(tool_answer([codex_says]))
    asked, answered = upstream_for(upstream, prompt)[-2:]
    assert tool in tool_names(asked)
    [use] = tool_uses(answered)
    assert use["name"].removeprefix(BRIDGE) == tool
    results = [
        block
        for message in answered["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert [r["tool_use_id"] for r in results] == [use["id"]]
    assert codex_says in json.dumps(results[0]["content"])


def test_codex_calls_a_freeform_tool(stack: Stack, upstream: MockUpstream, tmp_path: Path) -> None:
    """apply_patch as a custom tool: a function of one string `input` for the model; to Codex a
    custom_tool_call, whose output comes back as a custom_tool_call_output."""
    catalog = catalog_with_sonnet(tmp_path)
    prompt = "SCN:fn_call:apply_patch"
    run = codex_exec(stack, tmp_path, prompt, sandbox="workspace-write", catalog=catalog)

    refusal = "apply_patch verification failed: invalid patch"
    assert run.last_message.startswith(tool_answer([refusal]))
    asked, answered = upstream_for(upstream, prompt)[-2:]
    [patch_tool] = [t for t in asked["tools"] if t["name"].removeprefix(BRIDGE) == "apply_patch"]
    schema = patch_tool["input_schema"]
    assert schema["required"] == ["input"] and schema["properties"]["input"]["type"] == "string"
    assert "Begin Patch" in schema["properties"]["input"]["description"], "the grammar"
    assert not [n for n in tool_names(asked) if n in ("web_search", "tool_search")]
    [use] = tool_uses(answered)
    assert use["name"].removeprefix(BRIDGE) == "apply_patch"
    assert list(use["input"]) == ["input"], "the custom call replayed as its input"
    assert refusal in json.dumps(conversation(answered)[-1])


def test_a_responses_lite_model_declares_its_tools_in_the_input(
    stack: Stack, upstream: MockUpstream, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """No `tools`: the tools come in an additional_tools input item, and reach the model."""
    catalog = catalog_with_sonnet(tmp_path, lite=True)
    prompt = f"codex lite says hello ({request.node.callspec.id})"
    run = codex_exec(stack, tmp_path, prompt, catalog=catalog)

    assert run.last_message.endswith(prompt)
    [body] = upstream_for(upstream, prompt)
    names = tool_names(body)
    assert names and all("__" in name for name in names), names  # namespaced, as declared
