"""The Admin service through the real grpcurl binary and server reflection, no proto files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.certs import HostSpec, issue
from tests.stack import FAKE_CLAUDE, Stack, free_port, wait_until

pytestmark = pytest.mark.stack
GRPCURL = Path(sys.executable).parent / "grpcurl"


def grpcurl(
    socket: Path, *args: str, data: dict[str, Any] | None = None, timeout: float = 20
) -> str:
    command = [str(GRPCURL), "-plaintext", "-emit-defaults", "-unix"]
    if data is not None:
        command += ["-d", json.dumps(data)]
    result = subprocess.run(
        [*command, str(socket), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"grpcurl {args} failed: {result.stderr}"
    return result.stdout


def call(stack: Stack, method: str, data: dict[str, Any] | None = None) -> Any:
    out = grpcurl(
        stack.state_dir / "controller.sock", f"ccproxy.v1.Admin/{method}", data=data or {}
    )
    return json.loads(out)


def chat(stack: Stack, text: str, session: str) -> str:
    raw = stack.client().chat.completions.with_raw_response.create(
        model="sonnet",
        messages=[{"role": "user", "content": text}],
        extra_headers={"X-Session-Id": session},
    )
    return raw.headers["x-proxy-worker"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and certificates for the controller and for an administrator on another host."""
    out = tmp_path_factory.mktemp("certs") / "certs"
    hosts = [HostSpec("controller", ("127.0.0.1",)), HostSpec("admin", ("127.0.0.1",))]
    issue(out, hosts, replace=False, stdout=io.StringIO())
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, certs: Path) -> Iterator[Stack]:
    log = tmp_path_factory.mktemp("admin") / "runs.log"
    workers = [
        {
            "name": name,
            "bin": str(FAKE_CLAUDE),
            "token": f"sk-ant-oat01-admin-{name}",
            "env": {"FAKE_CLAUDE_LOG": str(log)},
        }
        for name in ("a", "b")
    ]
    settings = {
        "WORKERS": json.dumps(workers),
        "STOP_GRACE_MS": "300",
        "MAX_ATTEMPTS": "1",
        "CONTROLLER_LISTEN": f"127.0.0.1:{free_port()}",
        "TLS_CERT_FILE": str(certs / "controller.crt"),
        "TLS_KEY_FILE": str(certs / "controller.key"),
        "TLS_CA_FILE": str(certs / "ca.crt"),
    }
    running = Stack(settings).start()
    yield running
    running.stop()


def test_both_servers_list_their_services_by_reflection(stack: Stack) -> None:
    services = grpcurl(stack.state_dir / "controller.sock", "list").split()
    assert {
        "ccproxy.v1.Admin",
        "ccproxy.v1.Controller",
        "ccproxy.v1.Conversations",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= set(services)
    for name in ("a", "b"):
        worker = grpcurl(stack.state_dir / f"worker-{name}.sock", "list").split()
        assert {"ccproxy.v1.Worker", "grpc.health.v1.Health"} <= set(worker)
        status = json.loads(
            grpcurl(stack.state_dir / f"worker-{name}.sock", "ccproxy.v1.Worker/Status", data={})
        )
        assert status["name"] == name
    described = grpcurl(stack.state_dir / "controller.sock", "describe", "ccproxy.v1.Admin")
    for rpc in ("DrainWorker", "ResumeWorker", "ListProcesses", "KillProcess", "GetStats"):
        assert f"rpc {rpc}" in described
    assert "stream .ccproxy.v1.ProxyEvent" in described  # WatchEvents streams


def test_list_workers(stack: Stack) -> None:
    reply = call(stack, "ListWorkers")
    workers = {w["name"]: w for w in reply["workers"]}
    assert set(workers) == {"a", "b"}
    assert all(w["state"] == "up" and w["mode"] == "cli" for w in workers.values())
    assert "token" not in json.dumps(reply).lower()


def test_a_drained_worker_gets_no_new_traffic_until_resumed(stack: Stack) -> None:
    drained = call(stack, "DrainWorker", {"name": "a"})
    assert drained["state"] == "draining" and drained["draining"] is True
    try:
        served = {chat(stack, f"while drained {n}", f"drain-{n}") for n in range(6)}
        assert served == {"b"}
    finally:
        resumed = call(stack, "ResumeWorker", {"name": "a"})
    assert resumed["state"] == "up" and resumed["draining"] is False
    after = {chat(stack, f"after resume {n}", f"resume-{n}") for n in range(4)}
    assert "a" in after
    kinds = [e["type"] for e in stack.events() if e.get("worker") == "a"]
    assert "worker_drain" in kinds and "worker_resume" in kinds


def test_draining_an_unknown_worker_is_not_found(stack: Stack) -> None:
    socket = str(stack.state_dir / "controller.sock")
    result = subprocess.run(
        [
            str(GRPCURL),
            "-plaintext",
            "-unix",
            "-d",
            '{"name": "nope"}',
            socket,
            "ccproxy.v1.Admin/DrainWorker",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode != 0 and "NotFound" in result.stderr


def test_stats_history_events_and_processes_through_grpcurl(stack: Stack) -> None:
    chat(stack, "count me", "stats")
    stats = call(stack, "GetStats")
    assert int(stats["tokens"]["totals"]["requests"]) >= 1  # typed: int64 arrives as a string
    assert {w["name"] for w in stats["workers"]} == {"a", "b"}
    history = call(stack, "GetHistory", {"window": "6h"})
    assert history["bucket_seconds"] == 300 and len(history["points"]) == 72
    events = call(stack, "ListEvents", {"limit": 5, "type": "complete"})
    assert 0 < len(events["events"]) <= 5
    assert all(e["type"] == "complete" for e in events["events"])
    assert int(events["last_id"]) >= int(events["events"][-1]["id"])
    processes = call(stack, "ListProcesses")
    assert processes["max_idle_ms"]
    # No run is going on: what is left is warm or parked, and idle by design, never stale
    # (a warm replacement may still be starting: it is spawned in the background).
    listed = processes.get("processes", [])
    assert listed and all(p["state"] in ("ready", "parked", "starting") for p in listed)
    assert not any(p.get("stale") for p in listed)
    assert all(int(p["rss_bytes"]) > 0 for p in listed)
    refused = call(stack, "KillProcess", {"pid": os.getpid()})
    assert refused["killed"] is False


def test_watch_events_replays_then_streams_live(stack: Stack) -> None:
    socket = stack.state_dir / "controller.sock"
    command = [str(GRPCURL), "-plaintext", "-unix", "-max-time", "4", "-d", '{"replay": 2}']
    request = threading.Timer(1.5, chat, args=(stack, "watched live", "watch"))
    request.start()
    result = subprocess.run(
        [*command, str(socket), "ccproxy.v1.Admin/WatchEvents"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    request.join()
    decoder = json.JSONDecoder()
    received, text = [], result.stdout.strip()
    while text:
        event, end = decoder.raw_decode(text)
        received.append(event)
        text = text[end:].strip()
    assert len(received) >= 2 + 3  # two replayed, then request, started, complete at least
    live = [json.loads(e["data_json"]) for e in received[2:] if e["type"] == "complete"]
    assert any(d["status"] == "ok" and d["mode"] == "cli" for d in live)
    ids = [int(e["id"]) for e in received if int(e.get("id", 0))]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


def test_keys_made_listed_changed_and_revoked_through_grpcurl(stack: Stack) -> None:
    made = call(stack, "CreateKey", {"name": "grpcurl-ci", "policy": {"rpm": 30}})
    secret = made["secret"]
    assert secret.startswith("sk-ccp-") and made["key"]["role"] == "client"
    headers = {"Authorization": f"Bearer {secret}"}
    listed = call(stack, "ListKeys")["keys"]
    mine = next(k for k in listed if k["name"] == "grpcurl-ci")
    assert mine["policy"]["rpm"] == 30 and not mine["secret_sha256"]  # no hash outside the watch
    assert secret not in json.dumps(listed)

    changed = call(stack, "UpdateKey", {"key": {"name": "grpcurl-ci"}, "policy": {"rpm": 5}})
    assert changed["policy"]["rpm"] == 5
    wait_until(lambda: stack.request("GET", "/v1/models", headers=headers)[0] == 200, 10, "known")

    revoked = call(stack, "RevokeKey", {"name": "grpcurl-ci"})
    assert revoked["revoked_at"] > 0
    wait_until(lambda: stack.request("GET", "/v1/models", headers=headers)[0] == 401, 10, "gone")


def _grpcurl_tcp(stack: Stack, *args: str, tls: list[str]) -> subprocess.CompletedProcess[str]:
    address = stack.settings["CONTROLLER_LISTEN"]
    return subprocess.run(
        [str(GRPCURL), "-max-time", "5", *tls, address, *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_admin_from_another_host_needs_a_certificate_from_the_ca(stack: Stack, certs: Path) -> None:
    """CONTROLLER_LISTEN: Admin over TCP with mutual TLS, for grpcurl on another host; only
    Admin, so a certificate is never a way around the frontdoor's keys."""
    admin = ["-cacert", str(certs / "ca.crt")]
    admin += ["-cert", str(certs / "admin.crt"), "-key", str(certs / "admin.key")]
    listed = _grpcurl_tcp(stack, "list", tls=admin)
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == {
        "ccproxy.v1.Admin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    workers = _grpcurl_tcp(stack, "ccproxy.v1.Admin/ListWorkers", tls=admin)
    assert workers.returncode == 0, workers.stderr
    assert {w["name"] for w in json.loads(workers.stdout)["workers"]} == {"a", "b"}
    for refused in (["-plaintext"], ["-cacert", str(certs / "ca.crt")]):  # none; no client cert
        answer = _grpcurl_tcp(stack, "list", tls=refused)
        assert answer.returncode != 0 and "ccproxy" not in answer.stdout
