"""Pure: a server-sent events decoder for the Messages API's stream (no I/O, no model objects).

Bytes go in as they arrive from the socket, in chunks that may split a line or a character
anywhere; complete events come out as (event name, data) pairs. Follows the SSE rules the API
relies on: `event:` and `data:` fields, several `data:` lines joined by newlines, comments and
other fields ignored, an event ended by a blank line, lines ended by LF, CRLF or CR.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str


class SseDecoder:
    """Feeds on a byte stream; `feed` returns the events completed by each chunk."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buffer = self._buffer + chunk
        lines = buffer.splitlines(keepends=True)
        # The last line is kept back until its end arrives (a CR may be the half of a CRLF).
        if lines and not _ends_line(lines[-1]):
            self._buffer = lines.pop()
        else:
            self._buffer = b""
        events: list[SseEvent] = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r\n").decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, used by servers as a keepalive
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        if not self._data and not self._event:
            return None
        event = SseEvent(self._event or "message", "\n".join(self._data))
        self._event, self._data = "", []
        return event


def _ends_line(line: bytes) -> bool:
    # A lone trailing CR could still become CRLF with the next chunk: wait for one more byte.
    return line.endswith(b"\n")
