"""A worker host (`make run-workers`): only its workerds, each on TCP with mutual TLS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.config import ConfigError
from common.workers import WorkerSpec, parse_workers
from supervisor_conf.environments import program_variables
from supervisor_conf.launch import validate, validate_worker_host
from supervisor_conf.render import programs

SOME_CLI = Path(__file__).resolve().parents[2] / "fakes" / "fake_claude.py"  # only resolved

TOKEN = "sk-ant-oat01-worker-host-secret"


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    tls = {}
    for variable in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"):
        path = tmp_path / f"{variable.lower()}.pem"
        path.write_text("-----BEGIN CERTIFICATE-----\n")
        tls[variable] = str(path)
    entries = [
        {"name": "a", "bin": str(SOME_CLI), "token": TOKEN},
        {"name": "b", "bin": str(SOME_CLI), "token": TOKEN, "listen": "10.0.0.2:9000"},
        {"name": "c", "bin": str(SOME_CLI), "token": TOKEN},
    ]
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "WORKERS": json.dumps(entries),
        "WORKERD_LISTEN": "0.0.0.0:7301",
        **tls,
    }


def test_each_workerd_gets_its_own_port_or_its_own_listen(environ: dict[str, str]) -> None:
    workers = validate_worker_host(environ)
    assert [(w.name, w.listen) for w in workers] == [
        ("a", "0.0.0.0:7301"),
        ("b", "10.0.0.2:9000"),
        ("c", "0.0.0.0:7303"),
    ]


def test_a_worker_host_runs_only_workerds_each_with_its_own_entry(
    environ: dict[str, str],
) -> None:
    workers = validate_worker_host(environ)
    assert [p.name for p in programs(workers, "workers")] == ["workerd-a", "workerd-b", "workerd-c"]
    variables = program_variables(environ, workers, "workers")
    assert sorted(variables) == ["workerd-a", "workerd-b", "workerd-c"]
    (own,) = parse_workers({"WORKERS": variables["workerd-c"]["WORKERS"]})
    assert (own.name, own.token, own.listen) == ("c", TOKEN, "0.0.0.0:7303")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"WORKERD_LISTEN": ""}, "set its `listen` or WORKERD_LISTEN"),
        ({"TLS_CA_FILE": ""}, "TLS_CA_FILE"),
        ({"WORKERS": json.dumps([{"name": "r", "address": "h:1"}])}, "runs no remote one"),
        ({"WORKERS": "[]"}, "needs WORKERS"),
        ({"WORKERD_LISTEN": "0.0.0.0:9000"}, "same address"),  # c's 9002 is fine, b takes 9000
    ],
)
def test_a_worker_host_refuses_what_it_cannot_run(
    environ: dict[str, str], change: dict[str, str], message: str
) -> None:
    if change.get("WORKERD_LISTEN") == "0.0.0.0:9000":
        entries = json.loads(environ["WORKERS"])
        entries[1]["listen"] = "0.0.0.0:9000"
        change = {**change, "WORKERS": json.dumps(entries)}
    with pytest.raises(ConfigError) as info:
        validate_worker_host({**environ, **change})
    assert message in str(info.value)


def test_the_controller_host_refuses_a_local_workerd_on_tcp(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        validate(environ)
    assert "make run-workers" in str(info.value)


def test_a_remote_worker_has_no_program_on_the_controller_host() -> None:
    remote = WorkerSpec(name="r", mode="cli", address="10.0.0.2:7301")
    local = WorkerSpec(name="l", mode="cli", token=TOKEN)
    names = [p.name for p in programs((local, remote))]
    assert names == ["workerd-l", "controller", "frontdoor"]
