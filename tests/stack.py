"""Test harness: the real stack (supervisord, frontdoor, controller, workerds) in a temp dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import grpc
import openai
import psutil

from protos import controller_pb2, controller_pb2_grpc
from workerd.config import PINNED_CLI

REPO = Path(__file__).resolve().parent.parent
FAKE_CLAUDE = REPO / "tests" / "fakes" / "fake_claude.py"
TOKEN = "test-proxy-token"
ARTIFACTS = REPO / "test-artifacts"


def claude_bin() -> str:
    """The pinned CLI the Makefile installs (CLAUDE_BIN is set by `make test`)."""
    path = os.environ.get("CLAUDE_BIN") or str(PINNED_CLI)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no claude CLI at {path}: run `make claude` (make test does)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` every 50 ms; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Stack:
    """One running stack; `env` is its whole environment (nothing inherited by accident)."""

    settings: Mapping[str, str]
    state_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ccp-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    via_make: bool = False
    """Start with `make run` (as the README says) instead of the launcher directly."""
    _clients: list[openai.OpenAI] = field(default_factory=list)
    running: ClassVar[list[Stack]] = []
    """Every started, not yet stopped stack: a failing test's report shows their complaints."""

    @property
    def env(self) -> dict[str, str]:
        base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        return {
            **base,
            "STATE_DIR": str(self.state_dir),
            "CLAUDE_PROXY_PORT": str(self.port),
            "PROXY_AUTH_TOKEN": TOKEN,
            "HEALTH_INTERVAL_MS": "200",
            **self.settings,
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, expect_up: int | None = None, timeout: float = 60) -> Stack:
        command = [sys.executable, "-m", "supervisor_conf.launch", "--logs", "files"]
        if self.via_make:
            command = ["make", "--no-print-directory", "run"]
        with open(self.state_dir / "launch.log", "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        Stack.running.append(self)
        expected = (
            expect_up
            if expect_up is not None
            else len(json.loads(self.settings.get("WORKERS", "[]")))
        )
        wait_until(lambda: self._workers_up() == expected, timeout, f"{expected} workers up")
        return self

    def _workers_up(self) -> int:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"stack exited early:\n{self.logs()}")
        try:
            status, body = self.get("/health")
        except OSError:
            return -1
        return int(body["workers"]["up"]) if status in (200, 503) else -1

    def stop(self, timeout: float = 60) -> int:
        assert self.process is not None
        if self in Stack.running:
            Stack.running.remove(self)
        for client in self._clients:
            client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def client(self, **kwargs: Any) -> openai.OpenAI:
        options: dict[str, Any] = {
            "base_url": f"{self.base_url}/v1",
            "api_key": TOKEN,
            "max_retries": 0,
            "timeout": 60,
        }
        options.update(kwargs)
        client = openai.OpenAI(**options)
        self._clients.append(client)  # closed by stop(): no socket outlives the stack
        return client

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        all_headers = {
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/json",
            **(headers or {}),
        }
        req = urllib.request.Request(
            self.base_url + path, data=body, headers=all_headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get(self, path: str) -> tuple[int, Any]:
        status, _, body = self.request("GET", path)
        return status, json.loads(body)

    def logs(self) -> str:
        parts = []
        for path in [
            *sorted((self.state_dir / "logs").glob("*.log")),
            self.state_dir / "launch.log",
        ]:
            if path.exists():
                parts.append(f"==> {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def complaints(self, limit: int = 40) -> str:
        """The last warnings, errors and tracebacks in the stack's logs, for a failure report."""
        marks = ("WARNING", "ERROR", "CRITICAL", "Traceback", "GOAWAY", "exited:")
        lines = [
            f"{path.name}: {line}"
            for path in sorted((self.state_dir / "logs").glob("*.log"))
            for line in path.read_text(errors="replace").splitlines()
            if any(mark in line for mark in marks)
        ]
        return "\n".join(lines[-limit:]) or "(none)"

    def admin_workers(self) -> controller_pb2.WorkerList:
        with grpc.insecure_channel(f"unix:{self.state_dir / 'controller.sock'}") as channel:
            stub = controller_pb2_grpc.AdminStub(channel)
            reply: controller_pb2.WorkerList = stub.ListWorkers(
                controller_pb2.ListWorkersRequest(), timeout=5
            )
            return reply

    def worker_state(self, name: str) -> controller_pb2.WorkerInfo:
        return next(w for w in self.admin_workers().workers if w.name == name)

    def events(self, kind: str = "") -> list[dict[str, Any]]:
        with grpc.insecure_channel(f"unix:{self.state_dir / 'controller.sock'}") as channel:
            stub = controller_pb2_grpc.AdminStub(channel)
            request = controller_pb2.ListEventsRequest(limit=1000, type=kind)
            reply = stub.ListEvents(request, timeout=5)
        return [{"type": e.type, **json.loads(e.data_json)} for e in reply.events]

    def events_with_ids(self, kind: str = "") -> list[dict[str, Any]]:
        """As `events`, each with its `id` (the log's order)."""
        with grpc.insecure_channel(f"unix:{self.state_dir / 'controller.sock'}") as channel:
            stub = controller_pb2_grpc.AdminStub(channel)
            request = controller_pb2.ListEventsRequest(limit=1000, type=kind)
            reply = stub.ListEvents(request, timeout=5)
        return [{"id": e.id, "type": e.type, **json.loads(e.data_json)} for e in reply.events]

    def supervisorctl(self, *args: str) -> str:
        conf = self.state_dir / "supervisor" / "supervisord.conf"
        ctl = Path(sys.executable).parent / "supervisorctl"
        result = subprocess.run(
            [str(ctl), "-c", str(conf), *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        return result.stdout


def cli_children(state_dir: Path) -> list[psutil.Process]:
    """Live CLI children and their tools: every process carrying this stack's markers."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            env = proc.environ()
            zombie = proc.status() == psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        marked = env.get("CCP_STATE_DIR") == str(state_dir)
        if not zombie and (marked or env.get("CLAUDE_CONFIG_DIR", "").startswith(str(state_dir))):
            found.append(proc)
    return found
