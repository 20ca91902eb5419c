"""supervisor_conf/environments.py and exec_env: each program's configuration, least privilege."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.workers import WorkerSpec, parse_workers
from supervisor_conf.environments import program_variables, roster, shared_environment
from supervisor_conf.render import programs

pytestmark = pytest.mark.middle

TOKEN = "sk-ant-oat01-env-secret-token"
API_KEY = "sk-ant-api03-env-secret-key"
PROXY_TOKEN = "proxy-client-token-0123456789"
WORKERS = (
    WorkerSpec(name="1", mode="cli", bin="/opt/claude", token=TOKEN, max_concurrent=2),
    WorkerSpec(
        name="acct_2", mode="api", api_key=API_KEY, env=(("HTTPS_PROXY", "http://u:envpw@p"),)
    ),
    WorkerSpec(name="remote", mode="agent", address="10.0.0.9:9000"),
)
ENVIRON = {
    "WORKERS": "[...]",
    "PROXY_AUTH_TOKEN": PROXY_TOKEN,
    "CLAUDE_CODE_OAUTH_TOKEN": TOKEN,
    "ANTHROPIC_API_KEY": API_KEY,
    "MAX_CONCURRENT": "7",
    "PATH": "/usr/bin",
}
SECRETS = (TOKEN, API_KEY, PROXY_TOKEN, "envpw")


def test_the_shared_environment_has_no_credential() -> None:
    shared = shared_environment(ENVIRON)
    assert shared == {"MAX_CONCURRENT": "7", "PATH": "/usr/bin"}


def test_the_roster_parses_back_to_the_workers_without_credentials() -> None:
    parsed = parse_workers({"WORKERS": roster(WORKERS), "USE_CLI_AGENTS": "true"})
    assert [(w.name, w.mode, w.address, w.max_concurrent) for w in parsed] == [
        (w.name, w.mode, w.address, w.max_concurrent) for w in WORKERS
    ]
    assert all(not w.secrets() and not w.env and not w.bin for w in parsed)
    assert not [s for s in SECRETS if s in roster(WORKERS)]


def test_each_program_gets_only_its_own_variables() -> None:
    variables = program_variables(ENVIRON, WORKERS)
    assert sorted(variables) == sorted(p.name for p in programs(WORKERS))
    assert variables["frontdoor"]["PROXY_AUTH_TOKEN"] == PROXY_TOKEN
    held = {
        name: {s for s in SECRETS if s in json.dumps(values)} for name, values in variables.items()
    }
    assert held == {
        "controller": set(),
        "frontdoor": {PROXY_TOKEN},
        "workerd-1": {TOKEN},
        "workerd-acct_2": {API_KEY, "envpw"},
    }
    (own,) = parse_workers({"WORKERS": variables["workerd-acct_2"]["WORKERS"]})
    assert own == WORKERS[1]
    (own,) = parse_workers({"WORKERS": variables["workerd-1"]["WORKERS"]})
    assert own == WORKERS[0]


def test_the_default_worker_keeps_its_credential_in_its_own_entry() -> None:
    environ = {"CLAUDE_CODE_OAUTH_TOKEN": TOKEN}
    workers = parse_workers(environ)
    variables = program_variables(environ, workers)
    assert parse_workers({"WORKERS": variables["workerd-1"]["WORKERS"]}) == workers
    assert TOKEN not in json.dumps([variables["controller"], variables["frontdoor"]])
    assert "PROXY_AUTH_TOKEN" not in variables["frontdoor"]  # unset: the frontdoor's default


def test_exec_env_adds_the_file_to_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"CCP_TEST_VALUE": "from-file"}))
    script = "import os, sys; print(os.environ['CCP_TEST_VALUE'], os.environ['KEPT'], sys.argv[1:])"
    (tmp_path / "probe_module.py").write_text(script)
    result = subprocess.run(
        [sys.executable, "-m", "supervisor_conf.exec_env", str(path), "probe_module", "--x", "1"],
        env={"KEPT": "kept", "PYTHONPATH": f"{tmp_path}:{Path(__file__).parents[2]}"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert result.stdout.split() == ["from-file", "kept", "['--x',", "'1']"]
