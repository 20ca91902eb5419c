"""What the neutral event stream means to every process that reads it."""

from __future__ import annotations

from protos import common_pb2 as pb

# Events that reach the client as content: once one has gone out, a failure can no longer be
# retried or turned into an HTTP status; it must go to the client as an error event.
OUTPUT_KINDS = frozenset({"text", "thinking", "tool_call", "finish"})


def is_output(event: pb.Event) -> bool:
    return event.WhichOneof("kind") in OUTPUT_KINDS
