"""The three sides of the hot-path comparison, each started as a real process on loopback.

The mock upstream (bench/mock_server.py) on its own, this proxy (tests/stack.py Stack: the
launcher, supervisord, frontdoor, controller and one `api` workerd pointed at the mock), and
LiteLLM's proxy from its own venv (`make bench` installs it under .tools/litellm) pointed at the
same mock through its `anthropic` provider.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.load import Target
from bench.procs import Watched, stack_roles
from tests.stack import REPO, TOKEN, Stack, free_port

LITELLM_DIR = REPO / ".tools" / "litellm"
LITELLM_BIN = LITELLM_DIR / "bin" / "litellm"
LITELLM_KEY = "sk-bench-9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # a master key it accepts as strong
UPSTREAM_KEY = "sk-ant-api03-bench-0000000000000000"
CONCURRENCY_ROOM = 2000  # the proxy's caps stay out of the way of the load


@dataclass
class Side:
    name: str
    target: Target
    watched: Watched
    process: subprocess.Popen[bytes] | None = None
    stack: Stack | None = None

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _wait_http(url: str, timeout: float, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early (status {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {timeout}s")


def start_mock() -> Side:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.mock_server", "--port", str(port)], cwd=REPO
    )
    base = f"http://127.0.0.1:{port}"
    target = Target("mock", f"{base}/v1/messages", {"x-api-key": UPSTREAM_KEY}, anthropic=True)
    _wait_http(f"{base}/health", 20, process, "the bench mock")
    return Side("mock direct", target, Watched({"mock": [psutil.Process(process.pid)]}), process)


def mock_base(mock: Side) -> str:
    return mock.target.url.removesuffix("/v1/messages")


def start_proxy(mock: Side) -> Side:
    worker = {"name": "1", "api_key": UPSTREAM_KEY, "mode": "api", "max_concurrent": 128}
    unlimited = {"rpm": 10**9, "tpm": 10**12}
    settings = {
        "WORKERS": json.dumps([worker]),
        "ANTHROPIC_BASE_URL": mock_base(mock),
        "MAX_CONCURRENT": "128",  # 100 slow streams run; of 1,000 at once most queue
        "MAX_QUEUE_TOTAL": str(CONCURRENCY_ROOM),
        "MAX_QUEUE_PER_SOURCE": str(CONCURRENCY_ROOM),
        "RATE_LIMITS": json.dumps({f: unlimited for f in ("sonnet", "opus", "haiku", "other")}),
        "HEALTH_INTERVAL_MS": "1000",  # the production default (the test harness polls faster)
    }
    stack = Stack(settings).start()
    assert stack.process is not None
    headers = {"authorization": f"Bearer {TOKEN}"}
    target = Target("this proxy", f"{stack.base_url}/v1/chat/completions", headers, False)
    return Side("this proxy", target, Watched(stack_roles(stack.process.pid)), stack=stack)


def litellm_config(mock: Side) -> Path:
    path = Path(tempfile.mkdtemp(prefix="ccp-bench-litellm-")) / "config.yaml"
    model = {
        "model_name": "sonnet",
        "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5",
            "api_base": mock_base(mock),
            "api_key": UPSTREAM_KEY,
        },
    }
    config = {
        "model_list": [model],
        "litellm_settings": {"telemetry": False},
        "general_settings": {"master_key": LITELLM_KEY},
    }
    path.write_text(json.dumps(config))  # YAML is a superset of JSON
    return path


def start_litellm(mock: Side) -> Side | None:
    if not LITELLM_BIN.exists():
        print(f"no LiteLLM at {LITELLM_BIN}: `make bench` installs it", file=sys.stderr)
        return None
    config = litellm_config(mock)
    port = free_port()
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    with open(config.parent / "litellm.log", "wb") as log:
        process = subprocess.Popen(
            [str(LITELLM_BIN), "--config", str(config), "--port", str(port), "--num_workers", "1"],
            cwd=config.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/health/liveliness", 120, process, "LiteLLM")
    headers = {"authorization": f"Bearer {LITELLM_KEY}"}
    target = Target("LiteLLM", f"{base}/v1/chat/completions", headers, anthropic=False)
    return Side("LiteLLM", target, Watched({"litellm": [psutil.Process(process.pid)]}), process)


def litellm_version() -> str:
    python = LITELLM_DIR / "bin" / "python"
    try:
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip()
