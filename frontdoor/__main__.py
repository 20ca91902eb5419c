"""python -m frontdoor: read the environment, configure logging, serve HTTP."""

from __future__ import annotations

import os
import sys

import uvloop
from aiohttp import web

from common.config import ConfigError
from common.logs import configure_logging
from frontdoor.app import create_app, server_options
from frontdoor.config import FrontdoorConfig


def main() -> None:
    try:
        config = FrontdoorConfig.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    configure_logging("frontdoor", secrets=[config.auth_token])
    app = create_app(config)
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        print=None,
        loop=uvloop.new_event_loop(),  # libuv's loop: less CPU per request and per event
        **server_options(app),
    )


if __name__ == "__main__":
    main()
