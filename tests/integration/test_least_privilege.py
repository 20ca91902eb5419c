"""Least privilege between the stack's processes: each holds only the credentials it uses.

supervisord and the controller hold none; the frontdoor only PROXY_AUTH_TOKEN; each workerd only
its own account's credential (and its own `env`). Read from /proc/<pid>/environ and cmdline of the
real processes of a running stack."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator

import psutil
import pytest

from tests.stack import FAKE_CLAUDE, TOKEN, Stack

pytestmark = pytest.mark.stack

TOKEN_A = "sk-ant-oat01-least-privilege-a"
ENV_SECRET_A = "proxy-password-of-a"
API_KEY_B = "sk-ant-api03-least-privilege-b"
OAUTH_DEFAULT = "sk-ant-oat01-least-privilege-default"
WORKER_SECRETS = {TOKEN_A, ENV_SECRET_A, API_KEY_B, OAUTH_DEFAULT}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    workers = [
        {
            "name": "a",
            "mode": "cli",
            "bin": str(FAKE_CLAUDE),
            "token": TOKEN_A,
            "env": {"HTTPS_PROXY": f"http://user:{ENV_SECRET_A}@127.0.0.1:9"},
        },
        {"name": "b", "mode": "api", "api_key": API_KEY_B},
    ]
    settings = {
        "WORKERS": json.dumps(workers),
        # Ignored when WORKERS is set, yet a credential: no process may inherit it.
        "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_DEFAULT,
        "MAX_IDLE_PROCESSES": "0",
        "WARM_PROCESSES": "0",
    }
    started = Stack(settings).start()
    yield started
    started.stop()


def processes(stack: Stack) -> dict[str, psutil.Process]:
    """supervisord and its programs, by program name."""
    supervisord = psutil.Process(
        int((stack.state_dir / "supervisor" / "supervisord.pid").read_text())
    )
    found = {"supervisord": supervisord}
    for child in supervisord.children():
        argv = child.cmdline()
        module = argv[argv.index("-m") + 1]
        found[f"workerd-{argv[-1]}" if module == "workerd" else module] = child
    assert sorted(found) == ["controller", "frontdoor", "supervisord", "workerd-a", "workerd-b"]
    return found


def held(process: psutil.Process) -> set[str]:
    """Every secret of this test found in the process's environment or argv."""
    texts = [*process.environ().items(), *process.cmdline()]
    blob = "\n".join(str(t) for t in texts)
    return {s for s in (*WORKER_SECRETS, TOKEN) if s in blob}


def test_each_process_holds_only_its_own_credentials(stack: Stack) -> None:
    found = processes(stack)
    assert {name: held(proc) for name, proc in found.items()} == {
        "supervisord": set(),
        "controller": set(),
        "frontdoor": {TOKEN},
        "workerd-a": {TOKEN_A, ENV_SECRET_A},
        "workerd-b": {API_KEY_B},
    }
    assert found["frontdoor"].environ()["PROXY_AUTH_TOKEN"] == TOKEN
    for name in ("supervisord", "controller", "frontdoor", "workerd-a", "workerd-b"):
        environ = found[name].environ()
        assert "CLAUDE_CODE_OAUTH_TOKEN" not in environ, name
        assert "ANTHROPIC_API_KEY" not in environ, name


def test_controller_and_frontdoor_still_know_every_worker(stack: Stack) -> None:
    status, health = stack.get("/health")
    assert status == 200
    assert [(w["name"], w["mode"], w["state"]) for w in health["workers"]["detail"]] == [
        ("a", "cli", "up"),
        ("b", "api", "up"),
    ]
    workers = {w.name: w.mode for w in stack.admin_workers().workers}
    assert workers == {"a": "cli", "b": "api"}
    roster = json.loads(processes(stack)["controller"].environ()["WORKERS"])
    assert [(w["name"], w["mode"]) for w in roster] == [("a", "cli"), ("b", "api")]


def test_credential_files_are_private_and_the_config_holds_none(stack: Stack) -> None:
    conf = (stack.state_dir / "supervisor" / "supervisord.conf").read_text()
    assert not {s for s in (*WORKER_SECRETS, TOKEN) if s in conf}
    env_dir = stack.state_dir / "supervisor" / "env"
    assert stat.S_IMODE(env_dir.stat().st_mode) == 0o700
    files = sorted(p.name for p in env_dir.iterdir())
    assert files == ["controller.json", "frontdoor.json", "workerd-a.json", "workerd-b.json"]
    for path in env_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
