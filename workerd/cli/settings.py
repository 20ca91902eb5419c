"""CliSettings: how CLI children run: agent options, prompt budget, timers, reaper, work dirs."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import ConfigError, Environ, env_bool, env_int, env_json_object
from common.models import model_family
from workerd.cli.invocation import AgentOptions

# First output and silence limits per model family (ms): bigger models think longer.
DEFAULT_TIMERS = {
    "opus": (180_000, 600_000),
    "sonnet": (120_000, 300_000),
    "haiku": (60_000, 120_000),
    "fable": (180_000, 600_000),
    "other": (120_000, 300_000),
}


@dataclass(frozen=True)
class FamilyTimers:
    first_output_ms: int
    idle_ms: int


@dataclass(frozen=True)
class SessionSettings:
    """How many CLI processes a worker keeps between requests, and for how long."""

    warm_processes: int = 2
    """Ready processes kept for the most recently requested signatures (WARM_PROCESSES)."""
    max_idle_processes: int = 4
    """Warm and parked processes together, at most (MAX_IDLE_PROCESSES); 0 turns both off."""
    warm_max_age_ms: int = 600_000
    """A warm process is recycled after this long (WARM_MAX_AGE_MS)."""
    conversation_idle_ms: int = 300_000
    """A conversation's process is parked this long for its next turn (CONVERSATION_IDLE_MS)."""
    tool_result_timeout_ms: int = 600_000
    """A process whose client tool calls are out waits this long for the results
    (TOOL_RESULT_TIMEOUT_MS)."""

    @classmethod
    def from_env(cls, environ: Environ) -> SessionSettings:
        return cls(
            warm_processes=env_int(environ, "WARM_PROCESSES", 2, minimum=0),
            max_idle_processes=env_int(environ, "MAX_IDLE_PROCESSES", 4, minimum=0),
            warm_max_age_ms=env_int(environ, "WARM_MAX_AGE_MS", 600_000, minimum=1_000),
            conversation_idle_ms=env_int(environ, "CONVERSATION_IDLE_MS", 300_000, minimum=1_000),
            tool_result_timeout_ms=env_int(
                environ, "TOOL_RESULT_TIMEOUT_MS", 600_000, minimum=1_000
            ),
        )


@dataclass(frozen=True)
class CliSettings:
    """Settings of CLI children (cli and agent modes)."""

    agent: AgentOptions = field(default_factory=AgentOptions)
    max_prompt_chars: int = 400_000
    """Conversation budget in characters (about 100k tokens); the oldest turns go first."""
    timers: dict[str, FamilyTimers] = field(
        default_factory=lambda: {f: FamilyTimers(*v) for f, v in DEFAULT_TIMERS.items()}
    )
    reaper_interval_ms: int = 5_000
    workdir_retention_ms: int = 3_600_000
    """Agent working directories are removed this long after their run ended."""
    sessions: SessionSettings = field(default_factory=SessionSettings)

    @classmethod
    def from_env(cls, environ: Environ) -> CliSettings:
        return cls(
            agent=AgentOptions(
                allowed_tools=_tool_list(environ, "AGENT_ALLOWED_TOOLS"),
                disallowed_tools=_tool_list(environ, "AGENT_DISALLOWED_TOOLS"),
                max_turns=env_int(environ, "AGENT_MAX_TURNS", 30, minimum=1),
                client_tools=env_bool(environ, "AGENT_CLIENT_TOOLS", False),
            ),
            max_prompt_chars=env_int(environ, "MAX_PROMPT_CHARS", 400_000, minimum=1_000),
            timers=_timers(environ),
            reaper_interval_ms=env_int(environ, "REAPER_INTERVAL_MS", 5_000, minimum=50),
            workdir_retention_ms=env_int(
                environ, "AGENT_WORKDIR_RETENTION_MS", 3_600_000, minimum=0
            ),
            sessions=SessionSettings.from_env(environ),
        )

    def timers_for(self, model: str) -> FamilyTimers:
        family = model_family(model)
        return (
            self.timers.get(family)
            or self.timers.get("other")
            or FamilyTimers(*DEFAULT_TIMERS["other"])
        )


def _tool_list(environ: Environ, name: str) -> tuple[str, ...]:
    raw = environ.get(name, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _timers(environ: Environ) -> dict[str, FamilyTimers]:
    timers = {family: FamilyTimers(*values) for family, values in DEFAULT_TIMERS.items()}
    for family, spec in env_json_object(environ, "CLI_TIMEOUTS").items():
        if not isinstance(spec, dict):
            raise ConfigError("CLI_TIMEOUTS", f"{family!r} must be an object")
        if family not in timers:
            known = ", ".join(timers)
            raise ConfigError("CLI_TIMEOUTS", f"unknown model family {family!r} (use {known})")
        base = timers[family]
        first = spec.get("first_output_ms", base.first_output_ms)
        idle = spec.get("idle_ms", base.idle_ms)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (first, idle)):
            raise ConfigError(
                "CLI_TIMEOUTS", f"{family!r}: first_output_ms and idle_ms must be positive"
            )
        timers[family] = FamilyTimers(first, idle)
    return timers
