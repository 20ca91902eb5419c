"""The Responses door's memory, kept by the controller's Conversations service.

A response is stored (unless the client sends `store: false`) once it has finished: the turns
it added to its conversation (its new input and its answer, as neutral messages with thinking
signatures kept) and the response object as the client saw it. `previous_response_id` puts the
stored conversation back before the new input; it then derives the same conversation key, so
it continues on the worker, and the live CLI process, that served it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from common.answer import Answer
from frontdoor.controller_client import ControllerClient
from frontdoor.core.errors import ApiError
from frontdoor.responses.models import ResponsesRequest
from frontdoor.responses.output import ResponseBuilder, ResponsesSse, sse_event
from protos import common_pb2 as pb
from protos import controller_pb2

logger = logging.getLogger(__name__)


async def previous_turns(
    controller: ControllerClient, body: ResponsesRequest, owner: str
) -> list[pb.ChatMessage]:
    """The conversation `previous_response_id` continues (none without one), if `owner` (the
    caller's key id) made it: another key's response is as unknown as one never made."""
    response_id = body.previous_response_id
    if not response_id:
        return []
    stored = await controller.get_response(response_id, with_history=True, owner=owner)
    if stored is None:
        raise ApiError(
            400,
            f"previous response {response_id!r} not found (unknown, not stored, or older "
            "than the proxy's retention)",
            code="previous_response_not_found",
            param="previous_response_id",
        )
    return list(stored.history)


async def stored_body(controller: ControllerClient, response_id: str, owner: str) -> dict[str, Any]:
    """GET /v1/responses/{id}: the response object as it was sent, to the key that made it."""
    stored = await controller.get_response(response_id, with_history=False, owner=owner)
    if stored is None:
        raise ApiError(
            404,
            f"response {response_id!r} not found (unknown, stored with store: false, or "
            "older than the proxy's retention)",
            "invalid_request_error",
            code="not_found",
        )
    body: dict[str, Any] = json.loads(stored.body_json)
    return body


class Recorder:
    """What one response adds to its conversation; stores it once it has finished."""

    def __init__(
        self,
        controller: ControllerClient,
        body: ResponsesRequest,
        chat: pb.ChatRequest,
        history: Sequence[pb.ChatMessage],
    ) -> None:
        self.controller = controller
        self.enabled = body.store is not False
        self.previous_id = body.previous_response_id or ""
        skip = (1 if body.instructions else 0) + len(history)
        self.input = list(chat.messages[skip:])
        self.source = chat.source
        self.owner = chat.key_id
        self.answer = Answer()

    async def store(self, builder: ResponseBuilder) -> None:
        """Keep a finished response. A response the client asked to store is only answered once
        it is kept: a store that fails raises ApiError (503, `storage_unavailable`)."""
        if not self.enabled or builder.finish is None:
            return
        answer = self.answer.message()
        stored = controller_pb2.StoredResponse(
            id=builder.response_id,
            owner=self.owner,
            previous_id=self.previous_id,
            created=builder.created,
            source=self.source,
            turns=[*self.input, *([answer] if answer is not None else [])],
            body_json=json.dumps(builder.response()),
        )
        try:
            await self.controller.put_response(stored)
        except ApiError as exc:
            logger.warning("could not store response %s: %s", builder.response_id, exc.message)
            raise ApiError(
                503,
                f"{exc.message} (send store: false to be answered without storing)",
                "service_unavailable",
                code="storage_unavailable",
                param="store",
                retry_after_s=2,
            ) from None


class RecordingSse:
    """The Responses SSE writer, recording the answer as it streams (streaming.SseWriter)."""

    keepalive = ResponsesSse.keepalive

    def __init__(self, inner: ResponsesSse, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.not_stored: ApiError | None = None

    def note(self, event: pb.Event) -> None:
        self.inner.note(event)

    def opening(self) -> bytes:
        return self.inner.opening()

    def event(self, event: pb.Event) -> tuple[bytes, bool]:
        self.recorder.answer.observe(event)
        return self.inner.event(event)

    def closing(self, clean: bool) -> bytes:
        if self.not_stored is not None:  # response.failed, never completed for an unkept one
            return b"".join(sse_event(e) for e in self.inner.builder.failed(self.not_stored))
        return self.inner.closing(clean)

    async def before_end(self, clean: bool) -> None:
        """Stored before response.completed is written: a client may continue at once. A store
        that fails turns the closing into response.failed."""
        if clean:
            try:
                await self.recorder.store(self.inner.builder)
            except ApiError as exc:
                self.not_stored = exc
