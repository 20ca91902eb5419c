"""Pure: what an upstream's status and stop reason mean, for both worker kinds: the CLI reports
them, the API sends them."""

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


STOP_REASONS: dict[str, pb.FinishReason] = {
    "end_turn": pb.FINISH_STOP,
    "stop_sequence": pb.FINISH_STOP_SEQUENCE,
    "pause_turn": pb.FINISH_STOP,
    "max_tokens": pb.FINISH_LENGTH,
    "model_context_window_exceeded": pb.FINISH_LENGTH,
    "tool_use": pb.FINISH_TOOL_CALLS,
    "refusal": pb.FINISH_CONTENT_FILTER,
}


def finish_reason(stop_reason: str) -> pb.FinishReason:
    """The neutral finish reason of a Messages API stop reason (an unknown one is a stop)."""
    return STOP_REASONS.get(stop_reason, pb.FINISH_STOP)
