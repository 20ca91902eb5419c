"""Simulated worker hosts for the remote-workerd tests and bench (issue 23): the controller
host is this namespace, each worker host a network namespace behind a veth cable
(tests/netns.py) running `make run-workers`'s launcher under its own supervisord, reached over
TCP with mutual TLS.

`open_rig`: worker host `big` runs cli worker `r1` with the default limits, worker host `small`
runs `r2` with GRPC_MAX_MESSAGE_MB=1, and the controller host's stack has a local cli worker
`local` and both remote ones. Every worker runs the scriptable fake `claude`. A test that needs
one worker drains the others for its duration (`only`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import controller_pb2, controller_pb2_grpc
from tests.netns import SimulatedHost
from tests.stack import FAKE_CLAUDE, REPO, Stack, wait_until

REMOTE_PORT = 7301
KEEPALIVE_MS = 500
# An OAuth account's built-in tokens per minute would hold a 19 MB request (millions of
# estimated tokens) in the queue for the rest of the minute after any other request.
UNPACED = json.dumps({"sonnet": {"rpm": 100_000, "tpm": 1_000_000_000}})
SETTLE_S = 30  # the longest a state change here may take to be seen (polled, not slept)


def issue_certs(out: Path, hosts: Mapping[str, list[str]]) -> None:
    """`python -m common.certs`: one CA in `out`, then NAME.crt/NAME.key per host."""
    argv = [sys.executable, "-m", "common.certs", "--out", str(out)]
    for name, sans in hosts.items():
        argv += ["--host", f"{name}={','.join(sans)}"]
    subprocess.run(argv, cwd=REPO, check=True, capture_output=True)


def tls_settings(certs: Path, name: str) -> dict[str, str]:
    return {
        "TLS_CERT_FILE": str(certs / f"{name}.crt"),
        "TLS_KEY_FILE": str(certs / f"{name}.key"),
        "TLS_CA_FILE": str(certs / "ca.crt"),
    }


def health_status(target: str, credentials: grpc.ChannelCredentials | None) -> str:
    """The workerd's overall health over TCP (plaintext when `credentials` is None)."""
    opened = (
        grpc.secure_channel(target, credentials)
        if credentials is not None
        else grpc.insecure_channel(target)
    )
    with opened as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def credentials_of(certs: Path, name: str, trust: Path | None = None) -> grpc.ChannelCredentials:
    """A client presenting `name`'s certificate, trusting `trust` (default: its own CA)."""
    return grpc.ssl_channel_credentials(
        root_certificates=(trust or certs / "ca.crt").read_bytes(),
        private_key=(certs / f"{name}.key").read_bytes(),
        certificate_chain=(certs / f"{name}.crt").read_bytes(),
    )


@dataclass
class WorkerHost:
    """A worker host: `python -m supervisor_conf.launch --role workers` inside `net`, with its
    own STATE_DIR, its own WORKERS (credentials included) and its own certificate."""

    net: SimulatedHost
    state_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ccp-wh-")))
    process: subprocess.Popen[bytes] | None = None

    def start(self, workers: list[dict[str, Any]], settings: Mapping[str, str]) -> None:
        base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
        env = {**base, "STATE_DIR": str(self.state_dir), "WORKERS": json.dumps(workers)}
        argv = [sys.executable, "-m", "supervisor_conf.launch", "--role", "workers"]
        with open(self.state_dir / "launch.log", "wb") as log:
            self.process = self.net.run(
                [*argv, "--logs", "files"],
                cwd=REPO,
                env={**env, **settings},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_serving(self, target: str, credentials: grpc.ChannelCredentials) -> None:
        def serving() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker host exited early:\n{self.logs()}")
            try:
                return health_status(target, credentials) == "SERVING"
            except grpc.RpcError:
                return False

        wait_until(serving, SETTLE_S, f"the workerd at {target} to serve")

    def supervisorctl(self, *args: str) -> str:
        """supervisorctl reaches the host's supervisord by its unix socket, a file path: no
        network namespace in the way."""
        conf = self.state_dir / "supervisor" / "supervisord.conf"
        ctl = Path(sys.executable).parent / "supervisorctl"
        result = subprocess.run(
            [str(ctl), "-c", str(conf), *args], capture_output=True, text=True, check=False
        )
        return result.stdout

    def logs(self) -> str:
        paths = [*sorted((self.state_dir / "logs").glob("*.log")), self.state_dir / "launch.log"]
        return "\n".join(
            f"==> {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in paths if p.exists()
        )


@dataclass
class Rig:
    """The controller host's stack and the worker hosts it reaches."""

    stack: Stack
    hosts: dict[str, WorkerHost]
    certs: Path

    def address(self, host: str) -> str:
        return f"{self.hosts[host].net.ip}:{REMOTE_PORT}"


REMOTE_NAMES = {"big": "r1", "small": "r2"}
HOST_SETTINGS = {"big": {}, "small": {"GRPC_MAX_MESSAGE_MB": "1"}}


def open_rig(
    cleanup: ExitStack,
    small_host: bool = True,
    max_concurrent: int = 4,
    workerd_settings: Mapping[str, str] | None = None,
) -> Rig:
    """Worker hosts `big` (r1) and, with `small_host`, `small` (r2, GRPC_MAX_MESSAGE_MB=1),
    then the stack (`local`, r1, r2), each worker taking `max_concurrent` runs at once and
    every workerd, local or remote, given `workerd_settings`; all torn down by `cleanup`."""
    wanted = ("big", "small") if small_host else ("big",)
    nets = {name: cleanup.enter_context(SimulatedHost()) for name in wanted}
    certs = Path(tempfile.mkdtemp(prefix="ccp-certs-"))
    cleanup.callback(shutil.rmtree, certs, ignore_errors=True)
    hosts_sans = {name: [net.ip] for name, net in nets.items()}
    issue_certs(certs, {"controller": [net.peer_ip for net in nets.values()], **hosts_sans})
    each = {"mode": "cli", "max_concurrent": max_concurrent}
    own = dict(workerd_settings or {})
    hosts = {name: WorkerHost(net) for name, net in nets.items()}
    for name, host in hosts.items():
        entry = {"name": REMOTE_NAMES[name], "bin": str(FAKE_CLAUDE), **each}
        entry |= {"token": f"sk-ant-oat01-{name}", "listen": f"{host.net.ip}:{REMOTE_PORT}"}
        host.start([entry], {**own, **tls_settings(certs, name), **HOST_SETTINGS[name]})
        cleanup.callback(_stop_worker_host, host)
    for host in hosts.values():
        host.wait_serving(f"{host.net.ip}:{REMOTE_PORT}", credentials_of(certs, "controller"))
    local = {"name": "local", "bin": str(FAKE_CLAUDE), "token": "sk-ant-oat01-l", **each}
    remote = [
        {"name": REMOTE_NAMES[name], "address": f"{host.net.ip}:{REMOTE_PORT}", **each}
        for name, host in hosts.items()
    ]
    settings = {"WORKERS": json.dumps([local, *remote]), "RATE_LIMITS": UNPACED}
    settings |= {"REMOTE_KEEPALIVE_MS": str(KEEPALIVE_MS), **own}
    stack = Stack({**settings, **tls_settings(certs, "controller")})
    cleanup.callback(lambda: stack.stop() if stack.process is not None else None)
    stack.start()
    return Rig(stack, hosts, certs)


def _stop_worker_host(host: WorkerHost) -> None:
    if host.process is not None and host.process.poll() is None:
        host.process.send_signal(signal.SIGTERM)  # supervisord stops its workerds in order
        try:
            host.process.wait(30)
        except subprocess.TimeoutExpired:
            pass  # the SimulatedHost's teardown kills what is left


@contextmanager
def drained(stack: Stack, *workers: str) -> Iterator[None]:
    """`workers` take no new request while the block runs."""
    try:
        for name in workers:
            assert stack.request("POST", f"/admin/workers/{name}/drain")[0] == 200
        yield
    finally:
        for name in workers:
            stack.request("POST", f"/admin/workers/{name}/resume")


def only(stack: Stack, worker: str) -> AbstractContextManager[None]:
    """Every other worker drained: new requests can only go to `worker`."""
    return drained(stack, *(w.name for w in stack.admin_workers().workers if w.name != worker))


def worker_state(stack: Stack, name: str) -> str:
    """The worker's state as /metrics shows it."""
    status, metrics = stack.get("/metrics")
    assert status == 200
    return str(next(w["state"] for w in metrics["workers"] if w["name"] == name))


def reaches(stack: Stack, worker: str) -> bool:
    """The controller's call to `worker` (its process list) answered."""
    with grpc.insecure_channel(f"unix:{stack.state_dir / 'controller.sock'}") as channel:
        report = controller_pb2_grpc.AdminStub(channel).ListProcesses(
            controller_pb2.ListProcessesAdminRequest(), timeout=10
        )
    return worker not in report.unreachable_workers


def chat(stack: Stack, text: str, **extra: Any) -> tuple[str, str]:
    """One non-streamed completion: (the worker that served it, its text)."""
    raw = stack.client().chat.completions.with_raw_response.create(
        model="sonnet", messages=[{"role": "user", "content": text}], **extra
    )
    return raw.headers["X-Proxy-Worker"], raw.parse().choices[0].message.content or ""


def stream_chat(stack: Stack, text: str) -> tuple[str, str]:
    """One streamed completion: (the worker that served it, its text joined)."""
    raw = stack.client().chat.completions.with_raw_response.create(
        model="sonnet", messages=[{"role": "user", "content": text}], stream=True
    )
    pieces = [c.choices[0].delta.content or "" for c in raw.parse() if c.choices]
    return raw.headers["X-Proxy-Worker"], "".join(pieces)
