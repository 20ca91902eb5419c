"""What the neutral event stream means to every process that reads it."""

from __future__ import annotations

from collections.abc import Sequence

from protos import common_pb2 as pb

# Events that reach the client as content: once one has gone out, a failure can no longer be
# retried or turned into an HTTP status; it must go to the client as an error event.
OUTPUT_KINDS = frozenset({"text", "thinking", "tool_call", "finish"})


def is_output(event: pb.Event) -> bool:
    return event.WhichOneof("kind") in OUTPUT_KINDS


def unbatched(event: pb.Event) -> Sequence[pb.Event]:
    """The events a message carries: a batch's, in order, or the event itself."""
    return event.batch.events if event.WhichOneof("kind") == "batch" else (event,)


def batched(events: Sequence[pb.Event]) -> pb.Event:
    """One message for `events` (a single event goes as itself)."""
    return events[0] if len(events) == 1 else pb.Event(batch=pb.EventBatch(events=events))
