"""common/config.py: environment converters and the .env reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import (
    ConfigError,
    env_bool,
    env_int,
    env_json,
    env_json_object,
    env_str,
    load_dotenv,
)


def test_config_error_names_the_variable_first() -> None:
    error = ConfigError("MAX_CONCURRENT", "expected a whole number")
    assert error.variable == "MAX_CONCURRENT"
    assert error.problem == "expected a whole number"
    assert str(error) == "MAX_CONCURRENT: expected a whole number"


def test_env_str_default_when_missing_or_blank() -> None:
    assert env_str({}, "X", "dflt") == "dflt"
    assert env_str({"X": "   "}, "X", "dflt") == "dflt"
    assert env_str({"X": "  value "}, "X", "dflt") == "value"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", 5), (" 42 ", 42), ("0", 0), ("1800000", 1_800_000), ("+7", 7)],
)
def test_env_int_parses_whole_numbers(raw: str, expected: int) -> None:
    assert env_int({"N": raw}, "N", 99) == expected


@pytest.mark.parametrize("raw", ["", "   "])
def test_env_int_blank_uses_default(raw: str) -> None:
    assert env_int({"N": raw}, "N", 99) == 99
    assert env_int({}, "N", 99) == 99


@pytest.mark.parametrize("raw", ["ten", "1.5", "1e3", "0x10", "5ms", "true"])
def test_env_int_rejects_non_numbers_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        env_int({"MAX_QUEUE_TOTAL": raw}, "MAX_QUEUE_TOTAL", 100)
    assert info.value.variable == "MAX_QUEUE_TOTAL"
    assert str(info.value).startswith("MAX_QUEUE_TOTAL: ")
    assert repr(raw) in str(info.value)


def test_env_int_enforces_minimum() -> None:
    assert env_int({"N": "1"}, "N", 5, minimum=1) == 1
    with pytest.raises(ConfigError) as info:
        env_int({"N": "0"}, "N", 5, minimum=1)
    assert info.value.variable == "N"
    assert "at least 1" in info.value.problem
    with pytest.raises(ConfigError):
        env_int({"N": "-3"}, "N", 5)  # default minimum is 0


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " Yes ", "on"])
def test_env_bool_true_spellings(raw: str) -> None:
    assert env_bool({"B": raw}, "B", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "OFF"])
def test_env_bool_false_spellings(raw: str) -> None:
    assert env_bool({"B": raw}, "B", True) is False


def test_env_bool_blank_uses_default() -> None:
    assert env_bool({}, "B", True) is True
    assert env_bool({"B": " "}, "B", False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "enabled"])
def test_env_bool_rejects_other_words(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        env_bool({"USE_CLI_AGENTS": raw}, "USE_CLI_AGENTS", False)
    assert info.value.variable == "USE_CLI_AGENTS"


def test_env_json_parses_and_defaults() -> None:
    assert env_json({"J": '{"a": [1, 2]}'}, "J", None) == {"a": [1, 2]}
    assert env_json({"J": "[]"}, "J", None) == []
    assert env_json({}, "J", "fallback") == "fallback"
    assert env_json({"J": "  "}, "J", 7) == 7


def test_env_json_bad_json_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        env_json({"RATE_LIMITS": "{sonnet: 1}"}, "RATE_LIMITS", {})
    assert info.value.variable == "RATE_LIMITS"
    assert "invalid JSON" in info.value.problem
    assert str(info.value).startswith("RATE_LIMITS: ")


def test_env_json_object_requires_an_object() -> None:
    assert env_json_object({}, "M") == {}
    assert env_json_object({"M": '{"x": "y"}'}, "M") == {"x": "y"}
    for raw in ("[1]", '"text"', "3", "null"):
        with pytest.raises(ConfigError) as info:
            env_json_object({"MODEL_ALIASES": raw}, "MODEL_ALIASES")
        assert info.value.variable == "MODEL_ALIASES"


def test_load_dotenv_missing_file_is_empty(tmp_path: Path) -> None:
    assert load_dotenv(str(tmp_path / "absent.env")) == {}


def test_load_dotenv_parses_lines(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "\n".join(
            [
                "# a comment",
                "",
                "PLAIN=value",
                "  SPACED =  padded  ",
                'DOUBLE="quoted value"',
                "SINGLE='single # not a comment'",
                "export EXPORTED=yes",
                "EMPTY=",
                "WITH_EQUALS=a=b=c",
                "MISMATCHED=\"open'",
                'LONE="',
                "   # indented comment",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    assert load_dotenv(str(path)) == {
        "PLAIN": "value",
        "SPACED": "padded",
        "DOUBLE": "quoted value",
        "SINGLE": "single # not a comment",
        "EXPORTED": "yes",
        "EMPTY": "",
        "WITH_EQUALS": "a=b=c",
        "MISMATCHED": "\"open'",
        "LONE": '"',
    }


def test_load_dotenv_later_lines_win(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nA=2\n", encoding="utf-8")
    assert load_dotenv(str(path)) == {"A": "2"}


@pytest.mark.parametrize("bad", ["NO_EQUALS_SIGN", "TWO WORDS=1", "=value", "1ABC=x"])
def test_load_dotenv_rejects_malformed_line_with_its_number(tmp_path: Path, bad: str) -> None:
    path = tmp_path / ".env"
    path.write_text(f"GOOD=1\n# comment\n{bad}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_dotenv(str(path))
    assert info.value.variable == ".env"
    assert "line 3" in info.value.problem
