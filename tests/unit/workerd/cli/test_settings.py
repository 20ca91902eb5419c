"""workerd/cli/settings.py: agent options, prompt budget, timers and reaper settings from env."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.config import ConfigError
from workerd.cli.invocation import AgentOptions
from workerd.cli.settings import DEFAULT_TIMERS, CliSettings, FamilyTimers


def timeouts(spec: Any) -> dict[str, str]:
    return {"CLI_TIMEOUTS": json.dumps(spec)}


def config_error(environ: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        CliSettings.from_env(environ)
    return info.value


# --- defaults --------------------------------------------------------------------------------


def test_defaults_from_an_empty_environment() -> None:
    settings = CliSettings.from_env({})
    assert settings.agent == AgentOptions()
    assert settings.agent.allowed_tools == ()
    assert settings.agent.disallowed_tools == ()
    assert settings.agent.max_turns == 30
    assert settings.max_prompt_chars == 400_000
    assert settings.reaper_interval_ms == 5_000
    assert settings.workdir_retention_ms == 3_600_000
    assert settings.timers == {
        family: FamilyTimers(first, idle) for family, (first, idle) in DEFAULT_TIMERS.items()
    }


def test_default_timers_by_family() -> None:
    settings = CliSettings.from_env({})
    assert settings.timers_for("claude-opus-4-8") == FamilyTimers(180_000, 600_000)
    assert settings.timers_for("opus") == FamilyTimers(180_000, 600_000)
    assert settings.timers_for("claude-sonnet-5") == FamilyTimers(120_000, 300_000)
    assert settings.timers_for("claude-haiku-4-5-20251001") == FamilyTimers(60_000, 120_000)
    assert settings.timers_for("claude-fable-5") == FamilyTimers(180_000, 600_000)
    assert settings.timers_for("gpt-4o") == FamilyTimers(120_000, 300_000)
    assert settings.timers_for("") == FamilyTimers(*DEFAULT_TIMERS["other"])


def test_constructed_defaults_match_the_environment_defaults() -> None:
    # WorkerdConfig uses CliSettings() as its default: it must time families like from_env({}).
    constructed, from_env = CliSettings(), CliSettings.from_env({})
    assert constructed.agent == from_env.agent
    assert constructed.max_prompt_chars == from_env.max_prompt_chars
    assert constructed.reaper_interval_ms == from_env.reaper_interval_ms
    assert constructed.workdir_retention_ms == from_env.workdir_retention_ms
    for family in DEFAULT_TIMERS:
        assert constructed.timers_for(family) == from_env.timers_for(family), family


# --- agent options ---------------------------------------------------------------------------


def test_agent_tool_lists_are_parsed() -> None:
    settings = CliSettings.from_env(
        {
            "AGENT_ALLOWED_TOOLS": " Bash , Read,,Edit ,",
            "AGENT_DISALLOWED_TOOLS": "WebFetch",
            "AGENT_MAX_TURNS": "12",
        }
    )
    assert settings.agent == AgentOptions(
        allowed_tools=("Bash", "Read", "Edit"), disallowed_tools=("WebFetch",), max_turns=12
    )


@pytest.mark.parametrize("raw", ["", "   ", ",", " , , "])
def test_blank_tool_lists_are_empty(raw: str) -> None:
    settings = CliSettings.from_env({"AGENT_ALLOWED_TOOLS": raw, "AGENT_DISALLOWED_TOOLS": raw})
    assert settings.agent.allowed_tools == ()
    assert settings.agent.disallowed_tools == ()


def test_tool_patterns_with_arguments_are_kept_whole() -> None:
    settings = CliSettings.from_env({"AGENT_ALLOWED_TOOLS": "Bash(git:*), Read"})
    assert settings.agent.allowed_tools == ("Bash(git:*)", "Read")


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("AGENT_MAX_TURNS", "0"),
        ("AGENT_MAX_TURNS", "many"),
        ("MAX_PROMPT_CHARS", "999"),
        ("MAX_PROMPT_CHARS", "1e6"),
        ("REAPER_INTERVAL_MS", "49"),
        ("AGENT_WORKDIR_RETENTION_MS", "-1"),
    ],
)
def test_invalid_numbers_name_their_variable(name: str, raw: str) -> None:
    assert config_error({name: raw}).variable == name


def test_numeric_settings_are_parsed() -> None:
    settings = CliSettings.from_env(
        {
            "MAX_PROMPT_CHARS": "1000",
            "REAPER_INTERVAL_MS": "50",
            "AGENT_WORKDIR_RETENTION_MS": "0",
        }
    )
    assert settings.max_prompt_chars == 1_000
    assert settings.reaper_interval_ms == 50
    assert settings.workdir_retention_ms == 0


# --- CLI_TIMEOUTS ----------------------------------------------------------------------------


def test_cli_timeouts_override_one_family() -> None:
    settings = CliSettings.from_env(
        timeouts({"haiku": {"first_output_ms": 5_000, "idle_ms": 7_000}})
    )
    assert settings.timers_for("claude-haiku-4-5") == FamilyTimers(5_000, 7_000)
    assert settings.timers_for("claude-opus-4-8") == FamilyTimers(*DEFAULT_TIMERS["opus"])


def test_cli_timeouts_partial_override_keeps_the_family_default() -> None:
    settings = CliSettings.from_env(timeouts({"opus": {"idle_ms": 900_000}}))
    assert settings.timers_for("opus") == FamilyTimers(DEFAULT_TIMERS["opus"][0], 900_000)
    settings = CliSettings.from_env(timeouts({"sonnet": {"first_output_ms": 1}}))
    assert settings.timers_for("sonnet") == FamilyTimers(1, DEFAULT_TIMERS["sonnet"][1])


def test_cli_timeouts_other_applies_to_unknown_models() -> None:
    settings = CliSettings.from_env(timeouts({"other": {"first_output_ms": 11, "idle_ms": 22}}))
    assert settings.timers_for("gpt-4o") == FamilyTimers(11, 22)
    assert settings.timers_for("sonnet") == FamilyTimers(*DEFAULT_TIMERS["sonnet"])


def test_empty_cli_timeouts_object_keeps_defaults() -> None:
    assert CliSettings.from_env(timeouts({})).timers == CliSettings.from_env({}).timers


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        '"opus"',
        json.dumps({"opus": 5_000}),
        json.dumps({"opus": [5_000, 6_000]}),
        json.dumps({"opus": {"idle_ms": 0}}),
        json.dumps({"opus": {"idle_ms": -5}}),
        json.dumps({"opus": {"first_output_ms": 1.5}}),
        json.dumps({"opus": {"first_output_ms": "5000"}}),
        json.dumps({"opus": {"first_output_ms": True}}),
        json.dumps({"haiku": {"idle_ms": None}}),
    ],
)
def test_invalid_cli_timeouts_name_the_variable(raw: str) -> None:
    error = config_error({"CLI_TIMEOUTS": raw})
    assert error.variable == "CLI_TIMEOUTS"
    assert "CLI_TIMEOUTS" in str(error)


def test_cli_timeouts_error_names_the_family() -> None:
    error = config_error(timeouts({"haiku": {"idle_ms": 0}}))
    assert "haiku" in error.problem
