"""python -m frontdoor: read the environment, configure logging, serve HTTP."""

from __future__ import annotations

import os
import sys

from aiohttp import web

from common.config import ConfigError
from common.logs import configure_logging
from frontdoor.app import create_app
from frontdoor.config import FrontdoorConfig


def main() -> None:
    try:
        config = FrontdoorConfig.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    configure_logging("frontdoor", secrets=[config.auth_token])
    web.run_app(
        create_app(config),
        host=config.host,
        port=config.port,
        handler_cancellation=True,
        access_log_format='%a "%r" %s %b %Tfs',
        print=None,
        shutdown_timeout=5.0,
    )


if __name__ == "__main__":
    main()
