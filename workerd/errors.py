"""The one exception for a request a worker cannot serve, for both worker kinds.

    UnservableRequest(message, param)   the request asks for something this worker cannot
                                        honour; its run ends with one INVALID_REQUEST error
                                        event naming `param` (a 400 at the door)
    request_fault(exc)                  any other exception raised while a request was turned
                                        into a CLI run or an API call: the same 400

Turning a request into a run is pure: an exception there (RecursionError on deep JSON, a
ValueError, a UnicodeError, ...) comes from the request's content and would come on any worker.
It is that request's error, never a broken Run stream, which would mark the worker down and
send the request on to break the next one.

Raised by the Anthropic codec (workerd/anthropic/), the api call builder (api/messages_api.py)
and the CLI invocation builder and image fetcher (cli/); turned into its event by `event()`,
the one place that mapping lives. Failures of a run that started are error events, never this.
"""

from __future__ import annotations

import logging

from common.errors import make_error
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)
CANNOT_PREPARE = "the request cannot be served as sent"
_WHY = (
    (RecursionError, "it nests too deeply"),
    (UnicodeError, "it holds text that is not valid Unicode"),
    ((ValueError, OverflowError), "it holds a value out of range"),
)


class UnservableRequest(Exception):
    """The request asks for something this worker cannot honour; the client gets a 400."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param

    def __repr__(self) -> str:
        return f"UnservableRequest({str(self)!r}, param={self.param!r})"

    def event(self) -> pb.Event:
        """The run's only event: an INVALID_REQUEST error naming the field."""
        return make_error(pb.INVALID_REQUEST, str(self), param=self.param)


def request_fault(exc: Exception) -> pb.Event:
    """The INVALID_REQUEST event for an exception raised while the request was prepared (logged
    whole: a bug of ours looks the same from here)."""
    logger.warning("request refused: preparing it raised %s", type(exc).__name__, exc_info=exc)
    why = next((text for kinds, text in _WHY if isinstance(exc, kinds)), type(exc).__name__)
    return make_error(pb.INVALID_REQUEST, f"{CANNOT_PREPARE}: {why}")
