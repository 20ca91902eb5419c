"""Model names clients may use, their family, and what /v1/models lists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from common.config import ConfigError, Environ, env_json_object

# Family aliases go to the CLI as they are (it resolves them to the current model of the family);
# full `claude-...` ids pass through verbatim so new models work without a proxy release.
FAMILIES = ("opus", "sonnet", "haiku", "fable")
BUILTIN_ALIASES = {
    "claude-code": "sonnet",
    "claude": "sonnet",
    "opus": "opus",
    "sonnet": "sonnet",
    "haiku": "haiku",
}
# Family aliases -> the model the pinned CLI runs for them (docs/claude-cli.md, "Versions"):
# what api workers send upstream for an alias, so both worker modes run the same model.
FAMILY_MODELS = {
    "sonnet": "claude-sonnet-5",
    "opus": "claude-opus-4-8",
    "haiku": "claude-haiku-4-5-20251001",
    "fable": "claude-fable-5",
}
LISTED_MODELS = (
    "sonnet",
    "opus",
    "haiku",
    FAMILY_MODELS["sonnet"],
    FAMILY_MODELS["opus"],
    FAMILY_MODELS["haiku"],
)
MAX_CONTEXT_TOKENS = 1_000_000  # the largest context window of any Claude model (1M beta)
_FULL_ID = re.compile(r"^claude-[a-z0-9][a-z0-9.\-]{1,80}$")
_PREFIX = "claude-code/"


@dataclass(frozen=True)
class ModelCatalog:
    """Resolves a client's model name to the id sent to workers."""

    aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Environ) -> ModelCatalog:
        raw: dict[str, Any] = env_json_object(environ, "MODEL_ALIASES")
        aliases: dict[str, str] = {}
        for name, target in raw.items():
            if not isinstance(target, str) or not target:
                raise ConfigError("MODEL_ALIASES", f"alias {name!r} must map to a model name")
            resolved = _resolve_builtin(target)
            if resolved is None:
                raise ConfigError(
                    "MODEL_ALIASES", f"alias {name!r} targets unknown model {target!r}"
                )
            aliases[name] = resolved
        return cls(aliases)

    def resolve(self, requested: str) -> str | None:
        """The worker-facing model id, or None for a model this deployment does not serve."""
        if requested in self.aliases:
            return self.aliases[requested]
        return _resolve_builtin(requested)

    def listed(self) -> list[str]:
        names = [*LISTED_MODELS, *BUILTIN_ALIASES, *self.aliases]
        return list(dict.fromkeys(names))  # ordered, each name once


def _resolve_builtin(name: str) -> str | None:
    if name.startswith(_PREFIX):
        name = name[len(_PREFIX) :]
    if name in BUILTIN_ALIASES:
        return BUILTIN_ALIASES[name]
    if _FULL_ID.fullmatch(name):
        return name
    return None


def model_family(model: str) -> str:
    """opus, sonnet, haiku or fable; 'other' for an id with no known family in it."""
    for family in FAMILIES:
        if family in model:
            return family
    return "other"
