"""python -m controller: read the environment, configure logging, serve gRPC.

A database that cannot be used (corrupt, unwritable STATE_DIR, too new) is one log line naming
the file and what to do, then exit status EXIT_STORAGE_UNUSABLE; under supervisord the whole
stack stops with it (supervisord is asked to stop, as Ctrl-C would), instead of restarting a
controller that can never come up behind a frontdoor answering 503. A database locked by another
process at start is one line too, and exit 1: supervisord's restart is the retry."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import uvloop

from common.config import ConfigError
from common.logs import configure_logging
from controller.config import ControllerConfig
from controller.server import serve
from controller.storage.faults import EXIT_STORAGE_UNUSABLE, StorageUnusable

logger = logging.getLogger("controller")


def main() -> None:
    try:
        config = ControllerConfig.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    secrets = [s for worker in config.workers for s in worker.secrets()]
    configure_logging("controller", secrets=secrets)
    try:
        uvloop.run(serve(config))  # libuv's loop: less CPU per event on every hop
    except StorageUnusable as exc:
        if not exc.lasting:  # a lock held at start: supervisord's restart is the retry
            logger.error("%s", exc)
            sys.exit(1)
        logger.critical("%s; the proxy stops", exc)
        stop_the_stack()
        sys.exit(EXIT_STORAGE_UNUSABLE)


def stop_the_stack() -> None:
    """Under supervisord (our parent: exec_env execs in place), ask it to stop every program
    and exit, as `make run`'s Ctrl-C would: nothing can serve without the controller."""
    if os.environ.get("SUPERVISOR_ENABLED") != "1":
        return
    parent = os.getppid()
    try:
        command = Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        return
    if b"supervisord" in command:
        os.kill(parent, signal.SIGTERM)


if __name__ == "__main__":
    main()
