"""common/workers.py: WORKERS parsing, single-credential defaults, validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.config import ConfigError
from common.workers import NO_WORKER_HINT, WorkerSpec, parse_workers

TOKEN = "sk-ant-oat01-secret-token-value"
API_KEY = "sk-ant-api03-secret-key-value"


def _workers(entries: Any, **extra: str) -> tuple[WorkerSpec, ...]:
    return parse_workers({"WORKERS": json.dumps(entries), **extra})


def _config_error(environ: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_workers(environ)
    return info.value


def test_no_credentials_means_no_workers() -> None:
    assert parse_workers({}) == ()
    assert parse_workers({"CLAUDE_CODE_OAUTH_TOKEN": "  ", "ANTHROPIC_API_KEY": ""}) == ()


def test_no_worker_hint_says_how_to_configure() -> None:
    assert "CLAUDE_CODE_OAUTH_TOKEN" in NO_WORKER_HINT
    assert "ANTHROPIC_API_KEY" in NO_WORKER_HINT
    assert "WORKERS" in NO_WORKER_HINT


def test_default_worker_from_oauth_token_is_cli() -> None:
    (spec,) = parse_workers({"CLAUDE_CODE_OAUTH_TOKEN": f" {TOKEN} "})
    assert spec.name == "1"
    assert spec.mode == "cli"
    assert spec.token == TOKEN
    assert spec.api_key == ""
    assert spec.is_local and spec.uses_cli
    assert spec.max_concurrent == 4


def test_default_worker_from_api_key_is_api() -> None:
    (spec,) = parse_workers({"ANTHROPIC_API_KEY": API_KEY})
    assert spec.name == "1"
    assert spec.mode == "api"
    assert spec.api_key == API_KEY
    assert spec.token == ""
    assert not spec.uses_cli


def test_use_cli_agents_makes_default_worker_an_agent() -> None:
    (spec,) = parse_workers({"CLAUDE_CODE_OAUTH_TOKEN": TOKEN, "USE_CLI_AGENTS": "true"})
    assert spec.mode == "agent"
    assert spec.uses_cli
    (spec,) = parse_workers({"ANTHROPIC_API_KEY": API_KEY, "USE_CLI_AGENTS": "1"})
    assert spec.mode == "agent"


def test_bad_use_cli_agents_names_the_variable() -> None:
    error = _config_error({"CLAUDE_CODE_OAUTH_TOKEN": TOKEN, "USE_CLI_AGENTS": "perhaps"})
    assert error.variable == "USE_CLI_AGENTS"


def test_workers_json_overrides_default_credentials() -> None:
    specs = _workers([{"name": "a", "token": TOKEN}], ANTHROPIC_API_KEY=API_KEY)
    assert [s.name for s in specs] == ["a"]
    assert specs[0].api_key == ""


def test_empty_workers_array_is_no_workers() -> None:
    assert _workers([]) == ()


def test_full_entry_is_parsed() -> None:
    (spec,) = _workers(
        [
            {
                "name": "acct_2",
                "bin": " /opt/claude ",
                "token": TOKEN,
                "mode": "agent",
                "listen": "10.0.0.5:9000",
                "max_concurrent": 2,
                "env": {"HTTPS_PROXY": "http://proxy:3128", "A": "1"},
            }
        ]
    )
    assert spec.name == "acct_2"
    assert spec.bin == "/opt/claude"
    assert spec.mode == "agent"
    assert spec.listen == "10.0.0.5:9000"
    assert spec.is_local  # it listens on TCP on its own host, run by that host's supervisord
    assert spec.max_concurrent == 2
    assert spec.env == (("A", "1"), ("HTTPS_PROXY", "http://proxy:3128"))  # sorted


def test_a_remote_entry_is_a_name_a_mode_and_an_address() -> None:
    (spec,) = _workers([{"name": "r", "mode": "api", "address": "10.0.0.5:9000"}])
    assert (spec.address, spec.mode, spec.is_local, spec.secrets()) == (
        "10.0.0.5:9000",
        "api",
        False,
        (),
    )


@pytest.mark.parametrize("key", ["token", "api_key", "bin", "env", "listen"])
def test_a_remote_entry_refuses_what_belongs_on_its_host(key: str) -> None:
    value: object = {"A": "1"} if key == "env" else "x"
    with pytest.raises(ConfigError) as info:
        _workers([{"name": "r", "address": "h:1", key: value}])
    assert key in str(info.value) and "make run-workers" in str(info.value)


def test_names_default_to_position_and_numbers_become_strings() -> None:
    specs = _workers([{"token": TOKEN}, {"name": 7, "token": TOKEN}, {"token": TOKEN}])
    assert [s.name for s in specs] == ["1", "7", "3"]


@pytest.mark.parametrize(
    ("entry", "mode"),
    [
        ({"token": TOKEN}, "cli"),
        ({"api_key": API_KEY}, "api"),
        ({}, "cli"),
        ({"api_key": API_KEY, "mode": "cli"}, "cli"),
        ({"token": TOKEN, "mode": "api"}, "api"),
        ({"token": TOKEN, "mode": "agent"}, "agent"),
    ],
)
def test_mode_defaults_and_explicit_mode(entry: dict[str, Any], mode: str) -> None:
    (spec,) = _workers([{"name": "w", **entry}])
    assert spec.mode == mode


def test_worker_with_an_api_key_defaults_to_api_mode_even_with_a_token() -> None:
    # design.md section 2: "otherwise `api` if the worker has an `api_key`, else `cli`".
    (spec,) = _workers([{"name": "w", "token": TOKEN, "api_key": API_KEY}])
    assert spec.mode == "api"


def test_use_cli_agents_sets_default_mode_but_not_explicit_mode() -> None:
    specs = _workers(
        [{"name": "a", "token": TOKEN}, {"name": "b", "api_key": API_KEY, "mode": "api"}],
        USE_CLI_AGENTS="true",
    )
    assert [s.mode for s in specs] == ["agent", "api"]


def test_duplicate_names_are_refused() -> None:
    error = _config_error({"WORKERS": json.dumps([{"name": "1"}, {"name": 1}])})
    assert error.variable == "WORKERS"
    assert "duplicate" in error.problem
    assert "'1'" in error.problem


def test_duplicate_of_defaulted_name_is_refused() -> None:
    # The second entry defaults to name "2", which the first claims explicitly.
    error = _config_error({"WORKERS": json.dumps([{"name": "2"}, {}])})
    assert "duplicate" in error.problem


def test_unknown_mode_is_refused() -> None:
    error = _config_error({"WORKERS": json.dumps([{"name": "x", "mode": "gpu"}])})
    assert error.variable == "WORKERS"
    assert "unknown mode 'gpu'" in error.problem


def test_bad_json_names_workers() -> None:
    error = _config_error({"WORKERS": '[{"name": "1",}'})
    assert error.variable == "WORKERS"
    assert str(error).startswith("WORKERS: ")


@pytest.mark.parametrize("raw", ['{"name": "1"}', '"1"', "5"])
def test_workers_must_be_an_array(raw: str) -> None:
    error = _config_error({"WORKERS": raw})
    assert error.variable == "WORKERS"
    assert "array" in error.problem


@pytest.mark.parametrize("name", ["a b", "", "x" * 33, "name/with/slash", "é", "a.b"])
def test_bad_names_are_refused(name: str) -> None:
    error = _config_error({"WORKERS": json.dumps([{"name": name}])})
    assert error.variable == "WORKERS"
    assert "name" in error.problem


def test_longest_allowed_name() -> None:
    (spec,) = _workers([{"name": "A-_9" * 8}])
    assert spec.name == "A-_9" * 8


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("not an object", "not an object"),
        ({"name": "1", "tokn": "typo"}, "unknown keys"),
        ({"name": "1", "token": 123}, "token must be a string"),
        ({"name": "1", "mode": ["cli"]}, "mode must be a string"),
        ({"name": True}, "name must be a string"),
        ({"name": "1", "max_concurrent": "4"}, "max_concurrent"),
        ({"name": "1", "max_concurrent": True}, "max_concurrent"),
        ({"name": "1", "max_concurrent": 2.5}, "max_concurrent"),
        ({"name": "1", "max_concurrent": 0}, "at least 1"),
        ({"name": "1", "env": {"A": 1}}, "env"),
        ({"name": "1", "env": ["A=1"]}, "env"),
    ],
)
def test_invalid_entries_are_refused(entry: Any, fragment: str) -> None:
    error = _config_error({"WORKERS": json.dumps([entry])})
    assert error.variable == "WORKERS"
    assert fragment in error.problem


def test_error_messages_never_contain_secrets() -> None:
    error = _config_error({"WORKERS": json.dumps([{"name": "1", "token": TOKEN, "mode": "bogus"}])})
    assert TOKEN not in str(error)


def test_null_fields_take_defaults() -> None:
    (spec,) = _workers([{"name": "n", "token": None, "mode": None, "bin": None}])
    assert spec.token == ""
    assert spec.mode == "cli"
    assert spec.bin == ""


def test_secrets_are_not_in_repr() -> None:
    (spec,) = _workers(
        [
            {
                "name": "s",
                "token": TOKEN,
                "api_key": API_KEY,
                "env": {"HTTPS_PROXY": "http://user:envsecret@proxy"},
            }
        ]
    )
    text = repr(spec) + str(spec)
    assert TOKEN not in text
    assert API_KEY not in text
    assert "envsecret" not in text
    assert "'s'" in text  # the name is still there


def test_secrets_lists_only_present_credentials() -> None:
    specs = _workers(
        [
            {"name": "a", "token": TOKEN, "api_key": API_KEY},
            {"name": "b", "api_key": API_KEY},
            {"name": "c"},
        ]
    )
    assert [s.secrets() for s in specs] == [(TOKEN, API_KEY), (API_KEY,), ()]
