"""python -m workerd --worker NAME: one account's worker process."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import uvloop

from common.config import ConfigError
from common.logs import configure_logging
from workerd.config import WorkerdConfig
from workerd.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="workerd")
    parser.add_argument("--worker", required=True, help="worker name from WORKERS")
    args = parser.parse_args()
    try:
        config = WorkerdConfig.from_env(os.environ, args.worker)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    configure_logging(f"workerd-{args.worker}", secrets=config.spec.secrets())
    try:
        _run(config)
    except ConfigError as exc:  # e.g. a claude CLI older than the supported floor
        sys.exit(f"workerd {args.worker}: cannot start: {exc}")


def _run(config: WorkerdConfig) -> None:
    if config.spec.mode == "api":
        uvloop.run(serve(config))  # libuv's loop: less CPU per event on every hop
    else:
        # NOTE: a `claude` CLI spawned from uvloop's loop dies of SIGSEGV (bench/overhead.py,
        # tests/integration/test_cli_modes.py); CLI workers keep asyncio's own loop.
        asyncio.run(serve(config))


if __name__ == "__main__":
    main()
