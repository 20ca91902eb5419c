"""An orderly stop of the frontdoor: running answers get a grace, then end in their door's shape.

On SIGTERM aiohttp stops accepting, then runs on_shutdown (`Shutdown.begin`) and waits for the
running handlers. Each answer still waiting for events after SHUTDOWN_DRAIN_MS is cut: its feed
gives one error event, so a stream ends with its door's error event (and `[DONE]` on the OpenAI
doors) and a non-streaming request gets a 503, never a connection reset.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Protocol

from common.errors import make_error
from protos import common_pb2 as pb

STOPPING_MESSAGE = "the proxy is stopping; this answer was cut short, send the request again"
RETRY_AFTER_MS = 5_000
HANDLER_MARGIN_S = 3.0  # after the drain: time for cut answers to write their ending


class Cuttable(Protocol):
    def cut(self, error: pb.Event) -> None: ...


class Endable(Protocol):
    def end(self) -> None: ...


class Shutdown:
    """The feeds of running answers, cut once the drain after `begin` has passed."""

    def __init__(self, drain_s: float) -> None:
        self.drain_s = drain_s
        self.started = False
        self._feeds: weakref.WeakSet[Cuttable] = weakref.WeakSet()
        self._watchers: weakref.WeakSet[Endable] = (
            weakref.WeakSet()
        )  # /stream: no answer to wait for

    @property
    def handler_timeout_s(self) -> float:
        """How long aiohttp must wait for handlers (its shutdown_timeout)."""
        return self.drain_s + HANDLER_MARGIN_S

    def register(self, feed: Cuttable) -> None:
        self._feeds.add(feed)

    def unregister(self, feed: Cuttable) -> None:
        self._feeds.discard(feed)

    def watch(self, feed: Endable) -> None:
        """A live feed with nothing to finish: it ends as soon as the stop begins."""
        if self.started:
            feed.end()
        else:
            self._watchers.add(feed)

    def begin(self) -> None:
        if self.started:
            return
        self.started = True
        for watcher in list(self._watchers):
            watcher.end()
        asyncio.get_running_loop().call_later(self.drain_s, self.cut_all)

    def cut_all(self) -> None:
        error = make_error(pb.NO_WORKER_AVAILABLE, STOPPING_MESSAGE, retry_after_ms=RETRY_AFTER_MS)
        for feed in list(self._feeds):
            feed.cut(error)
