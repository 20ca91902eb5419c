"""Pure: events that arrived together, with their adjacent fragments joined.

For an answer the client gets whole, when one read from the upstream holds several deltas (a
fast model, a busy worker), sending each as its own gRPC message costs every hop a message for
nothing. (A stream keeps every delta: its clients see the upstream's own pieces, on either
worker kind.) Adjacent text deltas, and adjacent argument fragments of the same tool call, are
joined; anything else (the first delta of a call, thinking, usage, finish) stays as it is and
keeps its place. Nothing waits: only what is already here is joined.
"""

from __future__ import annotations

from protos import common_pb2 as pb


def coalesced(events: list[pb.Event]) -> list[pb.Event]:
    if len(events) < 2:
        return events
    out: list[pb.Event] = []
    for event in events:
        if out and _join(out[-1], event):
            continue
        out.append(event)
    return out


def _join(last: pb.Event, event: pb.Event) -> bool:
    """Appends `event` to `last` when both are fragments of the same stream of text."""
    kind = event.WhichOneof("kind")
    if kind != last.WhichOneof("kind"):
        return False
    if kind == "text":
        last.text.text += event.text.text
        return True
    if kind == "tool_call":
        call, more = last.tool_call, event.tool_call
        if more.index != call.index or more.id or more.name or call.id or call.name:
            return False  # a call's first delta (its id and name) stays a message of its own
        call.arguments_delta += more.arguments_delta
        return True
    return False


class TextJoiner:
    """An answer given whole, read after read: the first text delta goes at once (it marks the
    first output, and so the time to it), the following ones are held and joined up to the next
    other event, so a long answer crosses each hop in a few messages, not one per delta.
    `feed` returns what may go now; `flush` what is held, before an error or at the end."""

    def __init__(self) -> None:
        self._first = True
        self._pending: list[str] = []

    def feed(self, events: list[pb.Event]) -> list[pb.Event]:
        out: list[pb.Event] = []
        for event in events:
            is_text = event.WhichOneof("kind") == "text"
            if is_text and not self._first:
                self._pending.append(event.text.text)
                continue
            self._first = self._first and not is_text
            out.extend(self.flush())
            out.append(event)
        return out

    def flush(self) -> list[pb.Event]:
        if not self._pending:
            return []
        text, self._pending = "".join(self._pending), []
        return [pb.Event(text=pb.TextDelta(text=text))]
