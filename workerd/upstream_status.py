"""What an upstream HTTP status means, for both halves: the CLI reports it, the API raises it."""

from __future__ import annotations

from protos import common_pb2 as pb


def status_code(status: int) -> int:
    """ErrorCode for an upstream HTTP status."""
    if status in (401, 403):
        return pb.UPSTREAM_AUTH
    if status == 404:
        return pb.MODEL_NOT_FOUND
    if status == 413:
        return pb.CONTEXT_TOO_LONG
    if status == 429:
        return pb.RATE_LIMITED
    if status == 529:
        return pb.UPSTREAM_OVERLOADED
    if 400 <= status < 500:
        return pb.INVALID_REQUEST
    return pb.UPSTREAM_ERROR
