"""python -m bench [--only NAME ...]: run the benchmarks; results land in bench/results/."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench import (
    api_burst,
    burst,
    hot_path,
    keys,
    overhead,
    queue_cost,
    remote,
    sessions,
    start_pacing,
    tools,
)

BENCHMARKS: dict[str, Callable[[], None]] = {
    "hot_path": hot_path.main,
    "keys": keys.main,
    "queue_cost": queue_cost.main,
    "overhead": overhead.main,
    "sessions": sessions.main,
    "tools": tools.main,
    "burst": burst.main,
    "api_burst": api_burst.main,
    "start_pacing": start_pacing.main,
    "remote": remote.main,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    for name, run in BENCHMARKS.items():
        if args.only is None or name in args.only:
            run()


if __name__ == "__main__":
    main()
