"""supervisor_conf/render.py: the supervisord configuration as text."""

from __future__ import annotations

import configparser
from pathlib import Path

from common.workers import WorkerSpec
from supervisor_conf.render import StopBudget, programs, render

TOKEN = "sk-ant-oat01-render-secret-token"
API_KEY = "sk-ant-api03-render-secret-key"
STATE = Path("/srv/ccp/var")
REPO = Path("/srv/ccp/repo")
PYTHON = "/srv/ccp/repo/.venv/bin/python"
WORKERS = (
    WorkerSpec(name="1", mode="cli", token=TOKEN),
    WorkerSpec(
        name="acct_2", mode="api", api_key=API_KEY, env=(("HTTPS_PROXY", "http://u:envpw@p"),)
    ),
    WorkerSpec(name="remote", mode="cli", token=TOKEN, address="10.0.0.9:9000"),
)


def _parse(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True)
    parser.read_string(text)
    return parser


def _render(workers: tuple[WorkerSpec, ...] = WORKERS, terminal: bool = False) -> str:
    return render(workers, state=STATE, repo=REPO, python=PYTHON, log_to_terminal=terminal)


def test_programs_order_and_priorities() -> None:
    progs = programs(WORKERS)
    assert [p.name for p in progs] == ["workerd-1", "workerd-acct_2", "controller", "frontdoor"]
    worker_priorities = [p.priority for p in progs if p.module == "workerd"]
    controller = next(p for p in progs if p.name == "controller")
    frontdoor = next(p for p in progs if p.name == "frontdoor")
    assert max(worker_priorities) < controller.priority < frontdoor.priority


def test_rendered_config_parses_with_one_section_per_program() -> None:
    config = _parse(_render())
    programs_ = sorted(s for s in config.sections() if s.startswith("program:"))
    assert programs_ == [
        "program:controller",
        "program:frontdoor",
        "program:workerd-1",
        "program:workerd-acct_2",
    ]
    for section in ("supervisord", "unix_http_server", "supervisorctl"):
        assert config.has_section(section)


def test_remote_workers_get_no_local_program() -> None:
    text = _render()
    assert "workerd-remote" not in text
    assert "--worker remote" not in text


def test_commands_directory_and_priorities() -> None:
    config = _parse(_render())
    env = f"{PYTHON} -m supervisor_conf.exec_env {STATE}/supervisor/env"
    assert config["program:workerd-1"]["command"] == f"{env}/workerd-1.json workerd --worker 1"
    assert (
        config["program:workerd-acct_2"]["command"]
        == f"{env}/workerd-acct_2.json workerd --worker acct_2"
    )
    assert config["program:controller"]["command"] == f"{env}/controller.json controller"
    assert config["program:frontdoor"]["command"] == f"{env}/frontdoor.json frontdoor"
    for section in config.sections():
        if section.startswith("program:"):
            assert config[section]["directory"] == str(REPO)
            assert config[section]["autorestart"] == "true"
    worker = int(config["program:workerd-1"]["priority"])
    controller = int(config["program:controller"]["priority"])
    frontdoor = int(config["program:frontdoor"]["priority"])
    assert worker < controller < frontdoor


def test_file_logging_under_state_dir() -> None:
    config = _parse(_render())
    for name in ("workerd-1", "workerd-acct_2", "controller", "frontdoor"):
        section = config[f"program:{name}"]
        log = Path(section["stdout_logfile"])
        assert log == STATE / "logs" / f"{name}.log"
        assert section["stdout_logfile_maxbytes"] != "0"
    assert config["supervisord"]["logfile"].startswith(str(STATE))
    assert config["unix_http_server"]["file"].startswith(str(STATE))
    assert config["supervisorctl"]["serverurl"] == f"unix://{config['unix_http_server']['file']}"


def test_terminal_logging_uses_stdout_without_rotation() -> None:
    config = _parse(_render(terminal=True))
    for section in config.sections():
        if section.startswith("program:"):
            assert config[section]["stdout_logfile"] == "/dev/stdout"
            assert config[section]["stdout_logfile_maxbytes"] == "0"


def test_no_secrets_in_output() -> None:
    for terminal in (False, True):
        text = _render(terminal=terminal)
        assert TOKEN not in text
        assert API_KEY not in text
        assert "envpw" not in text


def test_no_workers_still_renders_controller_and_frontdoor() -> None:
    config = _parse(_render(()))
    assert sorted(s for s in config.sections() if s.startswith("program:")) == [
        "program:controller",
        "program:frontdoor",
    ]


def test_render_is_deterministic() -> None:
    assert _render() == _render()


PROGRAM_NAMES = ("frontdoor", "controller", "workerd-1")


def test_stop_waits_follow_the_configuration() -> None:
    """supervisord's SIGKILL only ever a backstop: each program's orderly stop fits."""
    budget = StopBudget(drain_s=10.0, stop_grace_s=12.0)
    config = _parse(
        render(WORKERS, state=STATE, repo=REPO, python=PYTHON, log_to_terminal=False, budget=budget)
    )
    waits = {name: int(config[f"program:{name}"]["stopwaitsecs"]) for name in PROGRAM_NAMES}
    assert waits["frontdoor"] > 10 + 3  # the drain, then the handlers' ending
    assert waits["controller"] > 5  # its gRPC grace
    assert waits["workerd-1"] > 2 + 8 * 12  # its grace, then every child's graces
    default = _parse(_render())
    assert int(default["program:workerd-1"]["stopwaitsecs"]) < waits["workerd-1"]
