"""Write one benchmark's figures to bench/results/ as JSON, and the markdown summary."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

Section = tuple[str, Sequence[str], Sequence[Sequence[str]]]
"""An extra markdown table: its title, its header and its rows."""


def write_result(
    name: str,
    figures: dict[str, Any],
    table: list[tuple[str, str]],
    sections: Sequence[Section] = (),
    notes: Sequence[str] = (),
) -> None:
    """`figures` go to the JSON; the table, then any `sections` and `notes`, to the markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {platform.python_version()}",
        "figures": figures,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"## {name}", "", "| figure | value |", "|---|---|"]
    lines += [f"| {label} | {value} |" for label, value in table]
    for title, header, rows in sections:
        lines += ["", f"### {title}", "", _row(header), _row(["---"] * len(header))]
        lines += [_row(row) for row in rows]
    if notes:
        lines += ["", *notes]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
