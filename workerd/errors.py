"""The one exception for a request a worker cannot serve, for both worker kinds.

    UnservableRequest(message, param)   the request asks for something this worker cannot
                                        honour; its run ends with one INVALID_REQUEST error
                                        event naming `param` (a 400 at the door)

Raised by the Anthropic codec (workerd/anthropic/), the api call builder (api/messages_api.py)
and the CLI invocation builder and image fetcher (cli/); turned into its event by `event()`,
the one place that mapping lives. Failures of a run that started are error events, never this.
"""

from __future__ import annotations

from common.errors import make_error
from protos import common_pb2 as pb


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
