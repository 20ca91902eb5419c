"""CliSettings: how CLI children run: agent options, prompt budget, timers, reaper, work dirs."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import ConfigError, Environ, env_int, env_json_object
from common.models import model_family
from workerd.cli.command import AgentOptions

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

    @classmethod
    def from_env(cls, environ: Environ) -> CliSettings:
        return cls(
            agent=AgentOptions(
                allowed_tools=_tool_list(environ, "AGENT_ALLOWED_TOOLS"),
                disallowed_tools=_tool_list(environ, "AGENT_DISALLOWED_TOOLS"),
                max_turns=env_int(environ, "AGENT_MAX_TURNS", 30, minimum=1),
            ),
            max_prompt_chars=env_int(environ, "MAX_PROMPT_CHARS", 400_000, minimum=1_000),
            timers=_timers(environ),
            reaper_interval_ms=env_int(environ, "REAPER_INTERVAL_MS", 5_000, minimum=50),
            workdir_retention_ms=env_int(
                environ, "AGENT_WORKDIR_RETENTION_MS", 3_600_000, minimum=0
            ),
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
