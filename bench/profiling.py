"""py-spy recordings of the proxy's processes during a phase (BENCH_PROFILE=1).

Each process of the proxy side is recorded twice in the same window: a flame graph (SVG) to look
at, and raw collapsed stacks from which `summarise` writes the top functions by own time.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path

from bench.report import RESULTS
from bench.sides import Side

PROFILES = RESULTS / "profiles"
TOP = 25


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise RuntimeError("no py-spy: `make bench-profile` installs it")
    return found


class Profiler:
    def __init__(self) -> None:
        PROFILES.mkdir(parents=True, exist_ok=True)
        self._running: list[subprocess.Popen[bytes]] = []
        self._raw: list[Path] = []

    def start(self, side: Side, phase: str, seconds: float) -> None:
        """Record every process of `side` for about `seconds` (the phase's length)."""
        for role, procs in side.watched.roles.items():
            for n, proc in enumerate(procs):
                stem = f"{phase.replace(' ', '-')}-{role}{n or ''}"
                for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
                    out = PROFILES / f"{stem}.{suffix}"
                    argv = [py_spy(), "record", "--nonblocking", "-r", "200", "-f", fmt]
                    argv += ["-d", str(int(seconds) + 2), "-p", str(proc.pid), "-o", str(out)]
                    self._running.append(
                        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    )
                    if fmt == "raw":
                        self._raw.append(out)

    def finish(self) -> None:
        for process in self._running:
            process.wait(60)
        self._running.clear()

    def summarise(self) -> None:
        """Top functions by own samples, per recording, into profiles/top.md."""
        lines = ["# Top functions by own time (py-spy, nonblocking, 200 Hz)", ""]
        for raw in self._raw:
            if raw.exists():
                lines += [f"## {raw.stem}", "", *_top(raw), ""]
        (PROFILES / "top.md").write_text("\n".join(lines))


def _top(raw: Path) -> list[str]:
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        own[frames[-1]] += int(count)
        total += int(count)
    return [f"- {100 * n / total:5.1f}% {frame}" for frame, n in own.most_common(TOP)]
