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
