"""The environment of a CLI child: only what the CLI needs, never the proxy's secrets."""

from __future__ import annotations

from collections.abc import Mapping

from common.config import Environ

# Passed through from workerd's own environment when present.
PASSTHROUGH = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
)
# Set for every child: headless, quiet, no side traffic (docs/claude-cli.md, "Invocation").
FIXED = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
    # 2.1.332 otherwise adds a `DeferredToolPlaceholder` tool beside the client's MCP tools.
    "ENABLE_TOOL_SEARCH": "false",
    "CI": "true",
    "TERM": "dumb",
    "NO_COLOR": "1",
}
MARKER = "CCP_WORKER"  # lets a restarted workerd recognise children of its predecessor
STATE_MARKER = "CCP_STATE_DIR"  # ...of this deployment, not of another proxy on the machine


def child_env(
    parent: Environ,
    *,
    worker: str,
    state_dir: str,
    home: str,
    config_dir: str,
    token: str,
    api_key: str,
    base_url: str,
    max_retries: int,
    extra: Mapping[str, str],
    request: Mapping[str, str],
) -> dict[str, str]:
    """Build the child environment from scratch; `extra` is the worker's own `env` entry.

    Starting from nothing (not from os.environ minus a blocklist) keeps out CLAUDECODE and
    friends, which make the CLI think it is nested, and every credential but this worker's.
    """
    env = {key: parent[key] for key in PASSTHROUGH if key in parent}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(FIXED)
    env.update(HOME=home, CLAUDE_CONFIG_DIR=config_dir, CLAUDE_CODE_MAX_RETRIES=str(max_retries))
    env[MARKER] = worker
    env[STATE_MARKER] = state_dir
    if base_url:
        env["ANTHROPIC_BASE_URL"] = base_url
    if token:
        env["CLAUDE_CODE_OAUTH_TOKEN"] = token
    elif api_key:
        env["ANTHROPIC_API_KEY"] = api_key
    env.update(extra)
    env.update(request)
    return env
