"""python -m frontdoor: read the environment, configure logging, serve HTTP until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys

import uvloop

from common.config import ConfigError
from common.logs import configure_logging
from frontdoor.app import create_app, start_serving
from frontdoor.config import FrontdoorConfig
from frontdoor.connections import RESERVED_DESCRIPTORS, ConnectionLimits, fitting_limits

logger = logging.getLogger("frontdoor")


def main() -> None:
    try:
        config = FrontdoorConfig.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    configure_logging("frontdoor", secrets=[config.auth_token])
    descriptors = raise_descriptor_limit(config.max_connections + RESERVED_DESCRIPTORS)
    limits = fitting_limits(config.max_connections, config.max_connections_per_address, descriptors)
    if limits.total < config.max_connections:
        logger.warning(
            "MAX_CONNECTIONS %d lowered to %d: the descriptor limit is %d",
            config.max_connections,
            limits.total,
            descriptors,
        )
    # libuv's loop: less CPU per request and per event
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(config, limits))


async def serve(config: FrontdoorConfig, limits: ConnectionLimits) -> None:
    """Until SIGTERM or SIGINT; then the runner stops as run_app's does (frontdoor/shutdown.py
    gives the running answers their grace)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    runner, _ = await start_serving(create_app(config), limits)
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()


def raise_descriptor_limit(wanted: int) -> int:
    """Raises the soft descriptor limit toward `wanted` (as far as the hard limit allows: many
    systems start a service at a soft 1024); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            soft = ceiling
        except (ValueError, OSError):
            logger.warning("could not raise the descriptor limit from %d to %d", soft, ceiling)
    return sys.maxsize if soft == resource.RLIM_INFINITY else soft


if __name__ == "__main__":
    main()
