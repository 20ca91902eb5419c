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
# Family aliases -> the model the pinned CLI runs for them, as its `system/init` line and the
# upstream request's `model` say (CLI 2.1.332; docs/claude-cli.md, "Versions"): what api workers
# send upstream for an alias, so both worker modes run the same model. The one home of the map.
FAMILY_MODELS = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
    "fable": "claude-fable-5-2",
}
# What CLI 2.1.332 tells the model about itself (its transcript's `model` record): marketing name
# and knowledge cutoff by model id. A rebuilt conversation carries it (workerd/cli/resume.py).
MODEL_IDENTITIES = {
    "claude-sonnet-5-5": ("Sonnet 5.5", "June 2026"),
    "claude-opus-5-5": ("Opus 5.5", "June 2026"),
    "claude-haiku-5-5": ("Haiku 5.5", "June 2026"),
    "claude-fable-5-2": ("Fable 5.2", "June 2026"),
    "claude-sonnet-5": ("Sonnet 5", "January 2026"),
    "claude-opus-4-7": ("Opus 4.7", "January 2026"),
}
# When the proxy first listed these ids (with CLI 2.1.332): the `created_at` of the Anthropic list.
LISTED_SINCE = "2026-11-29T00:00:00Z"
MODEL_PAGE_DEFAULT = 20
MODEL_PAGE_MAX = 1000
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


def display_name(name: str) -> str:
    """ "Claude Sonnet 5.5" for claude-sonnet-5-5; an alias names its model; others as they are."""
    target = FAMILY_MODELS.get(BUILTIN_ALIASES.get(name, ""), "")
    if target:
        return f"{display_name(target)} ({name})"
    parts = name.split("-")
    if len(parts) < 3 or parts[0] != "claude" or parts[1] not in FAMILIES:
        return name
    version = [part for part in parts[2:] if part.isdigit() and len(part) < 8]  # no dates
    return " ".join(["Claude", parts[1].capitalize(), ".".join(version)]).strip()


def anthropic_page(
    names: list[str], limit: int, after_id: str = "", before_id: str = ""
) -> dict[str, Any]:
    """The Anthropic `GET /v1/models` list: `data`, `has_more`, `first_id`, `last_id`.

    `after_id` pages forward, `before_id` back (the page just before it); an id not listed
    gives an empty page."""
    limit = max(1, min(limit, MODEL_PAGE_MAX))
    if after_id:
        start = names.index(after_id) + 1 if after_id in names else len(names)
        page, more = names[start : start + limit], start + limit < len(names)
    elif before_id:
        end = names.index(before_id) if before_id in names else 0
        page, more = names[max(0, end - limit) : end], end - limit > 0
    else:
        page, more = names[:limit], limit < len(names)
    data = [
        {"type": "model", "id": n, "display_name": display_name(n), "created_at": LISTED_SINCE}
        for n in page
    ]
    return {
        "data": data,
        "has_more": more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }


def model_family(model: str) -> str:
    """opus, sonnet, haiku or fable; 'other' for an id with no known family in it."""
    for family in FAMILIES:
        if family in model:
            return family
    return "other"
