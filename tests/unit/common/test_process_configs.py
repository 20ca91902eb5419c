"""frontdoor, controller and workerd config.from_env: design.md section 3 defaults and errors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from common.config import ConfigError
from controller.config import ControllerConfig
from frontdoor.config import DEFAULT_TOKEN, FrontdoorConfig
from workerd.config import WorkerdConfig

TOKEN = "sk-ant-oat01-config-test-token"


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with no `claude` on it, so the CLI lookup depends only on what a test puts there."""
    bin_dir = tmp_path / "path-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def _workers(*entries: dict[str, Any]) -> str:
    return json.dumps(list(entries))


# --- frontdoor -------------------------------------------------------------------------------


def test_frontdoor_defaults(state: Path) -> None:
    config = FrontdoorConfig.from_env({"STATE_DIR": str(state)})
    assert config.port == 8403
    assert config.host == "127.0.0.1"
    assert config.auth_token == DEFAULT_TOKEN == "local-proxy"
    assert config.paths.root == state.resolve()
    assert config.workers_configured == 0
    assert config.models.resolve("sonnet") == "sonnet"
    assert config.max_body_bytes > 1024


def test_frontdoor_reads_port_token_and_workers(state: Path) -> None:
    config = FrontdoorConfig.from_env(
        {
            "STATE_DIR": str(state),
            "CLAUDE_PROXY_PORT": "9000",
            "PROXY_AUTH_TOKEN": "s3cret-token",
            "CLAUDE_CODE_OAUTH_TOKEN": TOKEN,
            "MODEL_ALIASES": '{"gpt-4o": "opus"}',
        }
    )
    assert config.port == 9000
    assert config.auth_token == "s3cret-token"
    assert config.workers_configured == 1
    assert config.models.resolve("gpt-4o") == "opus"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_frontdoor_refuses_public_bind_with_default_token(state: Path, host: str) -> None:
    for environ in (
        {"STATE_DIR": str(state), "PROXY_HOST": host},
        {"STATE_DIR": str(state), "PROXY_HOST": host, "PROXY_AUTH_TOKEN": DEFAULT_TOKEN},
    ):
        with pytest.raises(ConfigError) as info:
            FrontdoorConfig.from_env(environ)
        assert info.value.variable == "PROXY_HOST"
        assert "PROXY_AUTH_TOKEN" in info.value.problem


def test_frontdoor_public_bind_with_custom_token_is_fine(state: Path) -> None:
    config = FrontdoorConfig.from_env(
        {
            "STATE_DIR": str(state),
            "PROXY_HOST": "0.0.0.0",
            "PROXY_AUTH_TOKEN": "long-random-0123456",
        }
    )
    assert config.host == "0.0.0.0"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_frontdoor_loopback_with_default_token_is_fine(state: Path, host: str) -> None:
    assert FrontdoorConfig.from_env({"STATE_DIR": str(state), "PROXY_HOST": host}).host == host


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1"])
def test_frontdoor_bad_port_names_the_variable(state: Path, port: str) -> None:
    with pytest.raises(ConfigError) as info:
        FrontdoorConfig.from_env({"STATE_DIR": str(state), "CLAUDE_PROXY_PORT": port})
    assert info.value.variable == "CLAUDE_PROXY_PORT"


def test_frontdoor_bad_workers_stops_start_up(state: Path) -> None:
    with pytest.raises(ConfigError) as info:
        FrontdoorConfig.from_env({"STATE_DIR": str(state), "WORKERS": "[{"})
    assert info.value.variable == "WORKERS"


def test_frontdoor_bad_model_aliases_stops_start_up(state: Path) -> None:
    with pytest.raises(ConfigError) as info:
        FrontdoorConfig.from_env({"STATE_DIR": str(state), "MODEL_ALIASES": '{"x": "gpt-5"}'})
    assert info.value.variable == "MODEL_ALIASES"


# --- controller ------------------------------------------------------------------------------


def test_controller_defaults(state: Path) -> None:
    config = ControllerConfig.from_env({"STATE_DIR": str(state)})
    assert config.max_concurrent == 10
    assert config.max_queue_total == 100
    assert config.max_queue_per_source == 20
    assert config.queue_timeout_ms == 120_000
    assert config.primary_worker == "1"
    assert config.workers == ()
    assert config.paths.root == state.resolve()
    assert config.paths.database == state.resolve() / "proxy.db"


def test_controller_reads_limits(state: Path) -> None:
    config = ControllerConfig.from_env(
        {
            "STATE_DIR": str(state),
            "MAX_CONCURRENT": "3",
            "MAX_QUEUE_TOTAL": "0",
            "MAX_QUEUE_PER_SOURCE": "5",
            "QUEUE_TIMEOUT_MS": "250",
            "PRIMARY_WORKER": "b",
            "WORKERS": _workers({"name": "a", "token": TOKEN}, {"name": "b", "token": TOKEN}),
        }
    )
    assert (config.max_concurrent, config.max_queue_total, config.max_queue_per_source) == (
        3,
        0,
        5,
    )
    assert config.queue_timeout_ms == 250
    assert config.primary_worker == "b"
    assert [w.name for w in config.workers] == ["a", "b"]


@pytest.mark.parametrize("value", ["ten", "1.5", "", "  "])
def test_controller_max_concurrent_must_be_a_number(state: Path, value: str) -> None:
    environ = {"STATE_DIR": str(state), "MAX_CONCURRENT": value}
    if not value.strip():
        assert ControllerConfig.from_env(environ).max_concurrent == 10
        return
    with pytest.raises(ConfigError) as info:
        ControllerConfig.from_env(environ)
    assert info.value.variable == "MAX_CONCURRENT"
    assert str(info.value).startswith("MAX_CONCURRENT: ")


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAX_CONCURRENT", "0"), ("QUEUE_TIMEOUT_MS", "0"), ("MAX_QUEUE_TOTAL", "-1")],
)
def test_controller_limits_have_minimums(state: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        ControllerConfig.from_env({"STATE_DIR": str(state), name: value})
    assert info.value.variable == name


def test_controller_refuses_duplicate_workers(state: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ControllerConfig.from_env(
            {"STATE_DIR": str(state), "WORKERS": _workers({"name": "a"}, {"name": "a"})}
        )
    assert info.value.variable == "WORKERS"


def test_a_remote_worker_needs_the_tls_files(state: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ControllerConfig.from_env(
            {"STATE_DIR": str(state), "WORKERS": _workers({"name": "r", "address": "h:1"})}
        )
    assert info.value.variable == "TLS_CERT_FILE"
    assert "remote worker 'r'" in str(info.value)


def test_a_remote_worker_address_is_host_and_port(state: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ControllerConfig.from_env(
            {"STATE_DIR": str(state), "WORKERS": _workers({"name": "r", "address": "h"})}
        )
    assert "host:port" in str(info.value)


def test_remote_workers_and_the_tcp_admin_with_tls(state: Path, tmp_path: Path) -> None:
    tls = _tls_files(tmp_path)
    config = ControllerConfig.from_env(
        {
            "STATE_DIR": str(state),
            "WORKERS": _workers({"name": "r", "mode": "cli", "address": "10.0.0.2:7301"}),
            "CONTROLLER_LISTEN": "0.0.0.0:7300",
            "GRPC_MAX_MESSAGE_MB": "8",
            "REMOTE_KEEPALIVE_MS": "500",
            **tls,
        }
    )
    assert config.tls is not None and str(config.tls.ca) == tls["TLS_CA_FILE"]
    assert config.listen is not None and config.listen.target == "0.0.0.0:7300"
    assert (config.message_limit, config.remote_keepalive_ms) == (8 << 20, 500)


def test_controller_listen_alone_needs_tls(state: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ControllerConfig.from_env({"STATE_DIR": str(state), "CONTROLLER_LISTEN": "0.0.0.0:7300"})
    assert "CONTROLLER_LISTEN needs mutual TLS" in str(info.value)


def _tls_files(directory: Path) -> dict[str, str]:
    files = {}
    for variable in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"):
        path = directory / f"{variable.lower()}.pem"
        path.write_text("-----BEGIN CERTIFICATE-----\n")
        files[variable] = str(path)
    return files


# --- workerd ---------------------------------------------------------------------------------


def test_a_worker_host_workerd_listens_on_tcp_by_its_place(
    state: Path, tmp_path: Path, empty_path: Path
) -> None:
    claude = str(_executable(tmp_path / "claude-bin"))
    environ = {
        "STATE_DIR": str(state),
        "WORKERS": _workers({"name": "a", "bin": claude}, {"name": "b", "bin": claude}),
        "WORKERD_LISTEN": "10.0.0.2:7301",
        **_tls_files(tmp_path),
    }
    first, second = (WorkerdConfig.from_env(environ, name) for name in ("a", "b"))
    assert first.listen is not None and first.listen.target == "10.0.0.2:7301"
    assert second.listen is not None and second.listen.target == "10.0.0.2:7302"
    without_tls = {k: v for k, v in environ.items() if not k.startswith("TLS_")}
    with pytest.raises(ConfigError, match="listening on TCP needs mutual TLS"):
        WorkerdConfig.from_env(without_tls, "a")


def test_workerd_defaults(state: Path, tmp_path: Path, empty_path: Path) -> None:
    claude = _executable(tmp_path / "claude-bin")
    config = WorkerdConfig.from_env(
        {"STATE_DIR": str(state), "WORKERS": _workers({"name": "w1", "bin": str(claude)})}, "w1"
    )
    assert config.spec.name == "w1"
    assert config.claude_bin == str(claude)
    assert config.stream_timeout_ms == 1_800_000
    assert config.sync_timeout_ms == 600_000
    assert config.max_process_age_ms == 1_800_000
    assert config.max_idle_ms == 600_000
    assert config.anthropic_base_url == ""
    root = state.resolve()
    assert config.home == root / "workers" / "w1" / "home"
    assert config.config_dir == root / "workers" / "w1" / "claude-config"
    assert config.chat_dir == root / "chat"  # one for every cli worker: no worker name in it
    assert len({config.home, config.config_dir, config.chat_dir}) == 3


def test_workerd_reads_timeouts_and_base_url(state: Path, tmp_path: Path, empty_path: Path) -> None:
    claude = _executable(tmp_path / "claude-bin")
    config = WorkerdConfig.from_env(
        {
            "STATE_DIR": str(state),
            "WORKERS": _workers({"name": "1", "bin": str(claude)}),
            "STREAM_TIMEOUT_MS": "1000",
            "SYNC_TIMEOUT_MS": "2000",
            "MAX_PROCESS_AGE_MS": "3000",
            "MAX_IDLE_MS": "4000",
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:18611",
        },
        "1",
    )
    assert (
        config.stream_timeout_ms,
        config.sync_timeout_ms,
        config.max_process_age_ms,
        config.max_idle_ms,
    ) == (1000, 2000, 3000, 4000)
    assert config.anthropic_base_url == "http://127.0.0.1:18611"


def test_workerd_bad_timeout_names_the_variable(
    state: Path, tmp_path: Path, empty_path: Path
) -> None:
    claude = _executable(tmp_path / "claude-bin")
    with pytest.raises(ConfigError) as info:
        WorkerdConfig.from_env(
            {
                "STATE_DIR": str(state),
                "WORKERS": _workers({"name": "1", "bin": str(claude)}),
                "MAX_IDLE_MS": "10m",
            },
            "1",
        )
    assert info.value.variable == "MAX_IDLE_MS"


def test_workerd_unknown_worker_name(state: Path) -> None:
    with pytest.raises(ConfigError) as info:
        WorkerdConfig.from_env(
            {"STATE_DIR": str(state), "WORKERS": _workers({"name": "1", "api_key": "k"})}, "2"
        )
    assert info.value.variable == "WORKERS"
    assert "'2'" in info.value.problem


def test_workerd_default_worker_from_token(state: Path, tmp_path: Path, empty_path: Path) -> None:
    claude = _executable(tmp_path / "claude-bin")
    config = WorkerdConfig.from_env(
        {"STATE_DIR": str(state), "CLAUDE_CODE_OAUTH_TOKEN": TOKEN, "CLAUDE_BIN": str(claude)},
        "1",
    )
    assert config.spec.token == TOKEN
    assert config.claude_bin == str(claude)


def test_workerd_api_worker_needs_no_cli(state: Path, empty_path: Path) -> None:
    config = WorkerdConfig.from_env(
        {"STATE_DIR": str(state), "WORKERS": _workers({"name": "a", "api_key": "k"})}, "a"
    )
    assert config.spec.mode == "api"
    assert config.claude_bin == ""


def test_workerd_finds_claude_on_path(state: Path, empty_path: Path) -> None:
    claude = _executable(empty_path / "claude")
    config = WorkerdConfig.from_env(
        {"STATE_DIR": str(state), "WORKERS": _workers({"name": "1", "token": TOKEN})}, "1"
    )
    assert config.claude_bin == str(claude)


def test_workerd_entry_bin_wins_over_claude_bin_and_path(
    state: Path, tmp_path: Path, empty_path: Path
) -> None:
    _executable(empty_path / "claude")
    other = _executable(tmp_path / "other-claude")
    mine = _executable(tmp_path / "my-claude")
    config = WorkerdConfig.from_env(
        {
            "STATE_DIR": str(state),
            "CLAUDE_BIN": str(other),
            "WORKERS": _workers({"name": "1", "bin": str(mine)}),
        },
        "1",
    )
    assert config.claude_bin == str(mine)


def test_workerd_bin_not_executable_is_a_config_error(
    state: Path, tmp_path: Path, empty_path: Path
) -> None:
    # The entry names a CLI that cannot run. Silently running some other `claude` (here one on
    # PATH) instead would hide the misconfiguration; start-up must stop and name the problem.
    _executable(empty_path / "claude")
    not_executable = tmp_path / "claude-not-executable"
    not_executable.write_text("#!/bin/sh\n")
    not_executable.chmod(0o644)
    assert not os.access(not_executable, os.X_OK)
    with pytest.raises(ConfigError) as info:
        WorkerdConfig.from_env(
            {
                "STATE_DIR": str(state),
                "WORKERS": _workers({"name": "1", "bin": str(not_executable)}),
            },
            "1",
        )
    assert info.value.variable == "WORKERS"
    assert str(not_executable) in info.value.problem


def test_workerd_ensure_dirs_are_private(state: Path, tmp_path: Path, empty_path: Path) -> None:
    claude = _executable(tmp_path / "claude-bin")
    config = WorkerdConfig.from_env(
        {"STATE_DIR": str(state), "WORKERS": _workers({"name": "1", "bin": str(claude)})}, "1"
    )
    config.ensure_dirs()
    for path in (config.home, config.config_dir, config.chat_dir):
        assert path.is_dir()
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


@pytest.mark.parametrize("overrides", [{}, {"STREAM_TIMEOUT_MS": "5000", "MAX_IDLE_MS": "700"}])
def test_controller_and_workerd_read_the_run_limits_alike(overrides: dict[str, str]) -> None:
    """The workerd enforces them, the controller judges stale processes by them: one reading."""
    environ = {"WORKERS": json.dumps([{"name": "1", "token": "sk-ant-oat01-x"}]), **overrides}
    controller = ControllerConfig.from_env(environ)
    workerd = WorkerdConfig.from_env(environ, "1")
    for field in ("stream_timeout_ms", "sync_timeout_ms", "max_process_age_ms", "max_idle_ms"):
        assert getattr(controller, field) == getattr(workerd, field), field
    assert controller.stream_timeout_ms == int(overrides.get("STREAM_TIMEOUT_MS", 1_800_000))
