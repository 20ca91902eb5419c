"""python -m controller: read the environment, configure logging, serve gRPC."""

from __future__ import annotations

import os
import sys

import uvloop

from common.config import ConfigError
from common.logs import configure_logging
from controller.config import ControllerConfig
from controller.server import serve


def main() -> None:
    try:
        config = ControllerConfig.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    secrets = [s for worker in config.workers for s in worker.secrets()]
    configure_logging("controller", secrets=secrets)
    uvloop.run(serve(config))  # libuv's loop: less CPU per event on every hop


if __name__ == "__main__":
    main()
