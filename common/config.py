"""Small environment converters; every failure is one ConfigError naming the variable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class ConfigError(Exception):
    """Invalid configuration: printed as one line at start-up, naming the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


Environ = Mapping[str, str]


def env_str(environ: Environ, name: str, default: str) -> str:
    value = environ.get(name, "").strip()
    return value or default


def env_int(environ: Environ, name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


def env_bool(environ: Environ, name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, f"expected true or false, got {raw!r}")


def env_json(environ: Environ, name: str, default: Any) -> Any:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(name, f"invalid JSON ({exc.msg} at position {exc.pos})") from None


def env_json_object(environ: Environ, name: str) -> dict[str, Any]:
    value = env_json(environ, name, {})
    if not isinstance(value, dict):
        raise ConfigError(name, "expected a JSON object")
    return value


def load_dotenv(path: str) -> dict[str, str]:
    """Parse a .env file: KEY=VALUE lines, optional quotes, # comments. No interpolation."""
    values: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return values
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(".env", f"line {number} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values
