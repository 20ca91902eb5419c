"""The layout keeps its promises: doors apart, SQL in storage, tiers honest, the map true."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOORS = ("chat", "responses", "messages")
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE FROM|CREATE TABLE|PRAGMA)\b|sqlite3|\.execute\(")
# What a test must not start to belong to the unit tier: servers, sockets and child processes.
STARTS_SOMETHING = re.compile(
    r"\b(subprocess|create_subprocess_exec|TestServer|start_server|aio\.server|AppRunner|Popen"
    r"|StandardServer|MockUpstream|ProcessTable|FAKE_CLAUDE|open_door|open_edge)\b"
)


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_no_door_imports_another_door() -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {name}"
        for door in DOORS
        for path in _modules(f"frontdoor/{door}")
        for name in _imports(path)
        if any(name.startswith(f"frontdoor.{other}") for other in DOORS if other != door)
    ]
    assert crossings == []


def test_what_the_doors_share_imports_no_door() -> None:
    shared = [p for p in _modules("frontdoor") if p.parent.name not in DOORS]
    upward = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in shared
        if path.parent.name != "frontdoor"  # app.py wires the doors' routes in: it is the top
        for name in _imports(path)
        if any(name.startswith(f"frontdoor.{door}") for door in DOORS)
    ]
    assert upward == []


def test_only_the_storage_layer_speaks_sql() -> None:
    speaking = [
        str(path.relative_to(ROOT))
        for path in _modules("controller")
        if "storage" not in path.parts and SQL.search(path.read_text())
    ]
    assert speaking == []


def test_worker_kinds_meet_only_in_the_codec() -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {name}"
        for mine, theirs in (("cli", "api"), ("api", "cli"))
        for path in _modules(f"workerd/{mine}")
        for name in _imports(path)
        if name.startswith(f"workerd.{theirs}")
    ]
    assert crossings == []


def test_unit_tests_start_no_server_and_no_process() -> None:
    starting = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests" / "unit").rglob("*.py"))
        if path != Path(__file__).resolve() and STARTS_SOMETHING.search(path.read_text())
    ]
    assert starting == []


def test_every_middle_and_stack_test_file_carries_its_marker() -> None:
    unmarked = [
        str(path.relative_to(ROOT))
        for tier, marker in (("middle", "middle"), ("integration", "stack"))
        for path in sorted((ROOT / "tests" / tier).rglob("test_*.py"))
        if f"pytestmark = pytest.mark.{marker}" not in path.read_text()
    ]
    assert unmarked == []


def _named_paths(line: str) -> Iterator[str]:
    """Paths named on one line of the map; a bare file name is read in the last folder named
    before it on the line (a table row names its folder first)."""
    folder = ""
    for name in re.findall(r"`([\w./-]+)`", line):
        if name.endswith("/"):
            folder = name
            yield name
        elif re.search(r"\.(py|proto|md|js|html|css)$", name):
            yield name if "/" in name else folder + name


def test_the_architecture_map_names_only_files_that_exist() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = [path for line in text.splitlines() for path in _named_paths(line)]
    missing = sorted({path for path in named if not (ROOT / path).exists()})
    assert len(named) > 50
    assert missing == []
