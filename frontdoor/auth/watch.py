"""Keeps the key ring current: Admin.WatchKeys held open by a task the app owns (cleanup_ctx),
reopened with a capped backoff when the controller restarts or is not up yet.

The controller sends the whole list at once and after every change, so a key made, changed or
revoked counts from the request after the list arrives (a revoked key passes for no longer than
the stream's delivery: milliseconds). While the controller is away the ring keeps the last list
it had; until a first list arrives only PROXY_AUTH_TOKEN authenticates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from frontdoor.admin_client import AdminClient, KeyWatchFailed
from frontdoor.auth.keyring import KeyRing
from frontdoor.state import ADMIN, AUTH, CONFIG

logger = logging.getLogger(__name__)
FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0
Sleep = Callable[[float], Awaitable[None]]


async def keep_ring(
    admin: AdminClient,
    ring: KeyRing,
    controller_there: Callable[[], bool] = lambda: True,
    sleep: Sleep = asyncio.sleep,
    first_delay_s: float = FIRST_DELAY_S,
    max_delay_s: float = MAX_DELAY_S,
) -> None:
    """Forever: watch, replace the ring with each list; after a break, wait and watch again.

    No call is made while `controller_there()` is False (its socket is missing): there is
    nobody to answer, and a call cancelled while still connecting leaves grpc an event for
    this loop that may come after the loop has closed (tests run a loop per test)."""
    delay = first_delay_s
    quiet = False  # a failure was logged and nothing came since: the next ones are debug
    while True:
        try:
            if not controller_there():
                raise KeyWatchFailed("NO_CONTROLLER_SOCKET")
            async for key_list in admin.watch_keys():
                if not ring.loaded or quiet:
                    logger.info(
                        "keys loaded: %d (version %d)", len(key_list.keys), key_list.version
                    )
                ring.replace(key_list)
                delay, quiet = first_delay_s, False
        except KeyWatchFailed as exc:
            log = logger.debug if quiet else logger.warning
            log("key watch unavailable (%s); retrying in %.1f s", exc, delay)
            quiet = True
        await sleep(delay)
        delay = min(delay * 2, max_delay_s)


async def ring_lifetime(app: web.Application) -> AsyncIterator[None]:
    """A cleanup_ctx entry (after the Admin client's): the watch runs while the app does."""
    there = app[CONFIG].paths.controller_socket.exists
    task = asyncio.get_running_loop().create_task(keep_ring(app[ADMIN], app[AUTH].ring, there))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
