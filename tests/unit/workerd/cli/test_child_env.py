"""workerd/child_env.py: the environment of a CLI child is built from scratch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workerd.cli.child_env import FIXED, MARKER, STATE_MARKER, child_env

OWN_TOKEN = "sk-ant-oat01-own-worker-token"
OWN_KEY = "sk-ant-api03-own-worker-key"
STATE_DIR = "/state"
PARENT = {
    "PATH": "/custom/bin:/usr/bin",
    "LANG": "C.UTF-8",
    "HTTPS_PROXY": "http://proxy:3128",
    "HOME": "/home/proxy",
    "CLAUDECODE": "1",
    "CLAUDE_CODE_ENTRYPOINT": "cli",
    "ANTHROPIC_API_KEY": "sk-ant-api03-parent-key",
    "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-another-workers-token",
    "PROXY_AUTH_TOKEN": "proxy-secret",
    "CONTROL_TOKEN": "control-secret",
    "WORKERS": '[{"name": "2", "token": "sk-ant-oat01-another-workers-token"}]',
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "PYTHONPATH": "/work/main",
    "VIRTUAL_ENV": "/work/main/.venv",
}


def build(
    parent: Mapping[str, str] = PARENT,
    *,
    token: str = OWN_TOKEN,
    api_key: str = "",
    base_url: str = "",
    extra: Mapping[str, str] | None = None,
    request: Mapping[str, str] | None = None,
    **overrides: Any,
) -> dict[str, str]:
    args: dict[str, Any] = {
        "worker": "w1",
        "state_dir": STATE_DIR,
        "home": "/state/workers/w1/home",
        "config_dir": "/state/workers/w1/claude-config",
        "max_retries": 1,
    }
    args.update(overrides)
    return child_env(
        parent,
        token=token,
        api_key=api_key,
        base_url=base_url,
        extra=extra or {},
        request=request or {},
        **args,
    )


def test_parent_secrets_and_nesting_markers_never_reach_the_child() -> None:
    env = build()
    for name in (
        "CLAUDECODE",
        "CLAUDE_CODE_ENTRYPOINT",
        "ANTHROPIC_API_KEY",
        "PROXY_AUTH_TOKEN",
        "CONTROL_TOKEN",
        "WORKERS",
        "AWS_SECRET_ACCESS_KEY",
        "PYTHONPATH",
        "VIRTUAL_ENV",
    ):
        assert name not in env, name
    values = "\n".join(env.values())
    for secret in (
        "sk-ant-oat01-another-workers-token",
        "sk-ant-api03-parent-key",
        "proxy-secret",
        "control-secret",
        "aws-secret",
    ):
        assert secret not in values


def test_own_token_becomes_oauth_token() -> None:
    env = build(token=OWN_TOKEN, api_key=OWN_KEY)
    assert env["CLAUDE_CODE_OAUTH_TOKEN"] == OWN_TOKEN
    assert "ANTHROPIC_API_KEY" not in env
    assert OWN_KEY not in env.values()


def test_api_key_used_only_without_token() -> None:
    env = build(token="", api_key=OWN_KEY)
    assert env["ANTHROPIC_API_KEY"] == OWN_KEY
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in env


def test_no_credentials_at_all() -> None:
    env = build(token="", api_key="")
    assert "ANTHROPIC_API_KEY" not in env
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in env


def test_home_config_dir_retries_and_marker() -> None:
    env = build(max_retries=2, worker="acct-7")
    assert env["HOME"] == "/state/workers/w1/home"  # not the parent's HOME
    assert env["CLAUDE_CONFIG_DIR"] == "/state/workers/w1/claude-config"
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "2"
    assert env[MARKER] == "acct-7"
    assert MARKER == "CCP_WORKER"


def test_state_dir_marker_tells_deployments_apart() -> None:
    assert STATE_MARKER == "CCP_STATE_DIR"
    assert build()[STATE_MARKER] == STATE_DIR
    other = build(state_dir="/srv/other-proxy/state")
    assert other[STATE_MARKER] == "/srv/other-proxy/state"
    assert other[MARKER] == build()[MARKER]  # same worker name, different deployment


def test_markers_are_not_inherited_from_the_parent() -> None:
    # A workerd started by another proxy's child must not pass that proxy's markers on.
    parent = {**PARENT, MARKER: "someone-else", STATE_MARKER: "/elsewhere"}
    env = build(parent, worker="w1", state_dir=STATE_DIR)
    assert env[MARKER] == "w1"
    assert env[STATE_MARKER] == STATE_DIR


def test_passthrough_and_fixed_values() -> None:
    env = build()
    assert env["PATH"] == "/custom/bin:/usr/bin"
    assert env["LANG"] == "C.UTF-8"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    for key, value in FIXED.items():
        assert env[key] == value
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"


def test_default_path_when_parent_has_none() -> None:
    env = build({})
    assert env["PATH"]
    assert "/usr/bin" in env["PATH"].split(":")


def test_base_url_passed_only_when_set() -> None:
    assert build(base_url="http://127.0.0.1:18611")["ANTHROPIC_BASE_URL"] == (
        "http://127.0.0.1:18611"
    )
    assert "ANTHROPIC_BASE_URL" not in build(base_url="")
    assert "ANTHROPIC_BASE_URL" not in build({**PARENT, "ANTHROPIC_BASE_URL": "http://x"})


def test_worker_env_and_request_env_are_applied_in_order() -> None:
    env = build(
        extra={"HTTPS_PROXY": "http://worker-proxy:8080", "SHARED": "worker", "W_ONLY": "w"},
        request={"SHARED": "request", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "256"},
    )
    assert env["HTTPS_PROXY"] == "http://worker-proxy:8080"
    assert env["W_ONLY"] == "w"
    assert env["SHARED"] == "request"
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "256"


def test_result_is_a_fresh_dict() -> None:
    parent = dict(PARENT)
    env = build(parent)
    env["PATH"] = "changed"
    assert parent == PARENT
    assert build(parent)["PATH"] == PARENT["PATH"]
