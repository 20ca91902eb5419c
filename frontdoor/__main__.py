"""python -m frontdoor: read the environment, configure logging, serve HTTP."""

from __future__ import annotations

import os
import sys

import uvloop
from aiohttp import web

from common.config import ConfigError
from common.logs import configure_logging
from frontdoor.app import create_app
from frontdoor.config import FrontdoorConfig
from frontdoor.state import SHUTDOWN


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
        handler_cancellation=True,
        access_log_format='%a "%r" %s %b %Tfs',
        print=None,
        shutdown_timeout=app[SHUTDOWN].handler_timeout_s,
        # aiohttp arms this at connect and after each answer: a request head must be complete
        # within it, and an idle keep-alive connection is closed after it.
        keepalive_timeout=config.header_timeout_ms / 1000,
        loop=uvloop.new_event_loop(),  # libuv's loop: less CPU per request and per event
    )


if __name__ == "__main__":
    main()
