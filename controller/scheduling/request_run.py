"""One completion from arrival to its last event: admission, attempts, retries, events.

A failure before any output reached the client is retried on another worker (at most once
per worker, `max_attempts` in total, short jittered backoff); events of a failed attempt are
held back, so the client sees one clean answer. After output has started, a failure goes to
the client as an error event. Quota signals from any attempt put its worker in cooldown.

A worker is marked down only for a failure of the worker: its socket unreachable, its stream
broken. An error event is the request's (a bad request is not retried either); so is a Run
that the workerd answered by raising (status UNKNOWN): the worker is alive, and the same
request would break the next one the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from common.errors import error_code_name, make_error, wire_error
from common.events import OUTPUT_KINDS, batched, unbatched
from common.models import MAX_CONTEXT_TOKENS
from controller.events import kinds
from controller.keys.admission import KeyRefused
from controller.keys.policy import POOL_MODES
from controller.keys.record import KeyRecord
from controller.scheduling.affinity import conversation_key
from controller.scheduling.fair_queue import PRIORITY_HIGH, PRIORITY_LOW, PRIORITY_NORMAL
from controller.scheduling.ratelimit import estimate_tokens
from controller.scheduling.scheduler import DispatchError, Lease, Scheduler, Waiter
from controller.storage.usage import error_category
from controller.workers.client import MessageTooLarge, WorkerUnavailable
from controller.workers.pool import WorkerHandle
from protos import common_pb2 as pb

logger = logging.getLogger(__name__)
_PRIORITY = {
    pb.PRIORITY_HIGH: PRIORITY_HIGH,
    pb.PRIORITY_NORMAL: PRIORITY_NORMAL,
    pb.PRIORITY_LOW: PRIORITY_LOW,
}
# As the `request` event names them ("high", "normal", ...): no enum lookup per request.
_PRIORITY_NAMES = {
    value: name.removeprefix("PRIORITY_").lower() for name, value in pb.Priority.items()
}
# Beyond the largest context any model takes, with room for the estimate (four characters a
# token; code and other scripts run denser, so the estimate errs low): hopeless at admission.
HOPELESS_PROMPT_TOKENS = MAX_CONTEXT_TOKENS * 5 // 4
CLI_MODES = POOL_MODES["cli"]
NO_CLIENT_TOOLS = (
    "no worker of this proxy runs the client's tools: its agent workers have tools of their own; "
    "set AGENT_CLIENT_TOOLS=true or add a cli or api worker"
)


@dataclass
class Outcome:
    """What one attempt did."""

    output_started: bool = False
    error: pb.Error | None = None
    usage: pb.Usage = field(default_factory=pb.Usage)
    usage_seen: bool = False  # the worker reported what the run used
    output_chars: int = 0  # what reached the client, for an estimate when it did not

    def note_output(self, event: pb.Event, kind: str | None) -> None:
        if kind == "text":
            self.output_chars += len(event.text.text)
        elif kind == "thinking":
            self.output_chars += len(event.thinking.text)
        elif kind == "tool_call":
            self.output_chars += len(event.tool_call.arguments_delta) + len(event.tool_call.name)

    def used(self, prompt_tokens: int) -> pb.Usage:
        """The run's usage: as reported, or estimated for a run cut before its report (crashed,
        cancelled, interrupted) that had answered: the model read the prompt and wrote that."""
        if self.usage_seen or not self.output_started:
            return self.usage
        return pb.Usage(
            input_tokens=prompt_tokens, output_tokens=estimate_tokens(self.output_chars)
        )


class RequestRun:
    """Drives one request through the scheduler and the workers."""

    def __init__(self, scheduler: Scheduler, request: pb.ChatRequest) -> None:
        self.scheduler = scheduler
        self.request = request
        self.arrived = scheduler.clock()
        self.first_output_at: float | None = None
        self.tried: list[str] = []
        self.status = "cancelled"
        self.mode = ""
        self.usage = pb.Usage()
        self.record: KeyRecord | None = None  # the key's policy, once admitted
        self.key = self._conversation_key()
        self.prompt_tokens = estimate_tokens(sum(len(_text(m)) for m in request.messages))

    async def events(self) -> AsyncIterator[pb.Event]:
        request = self.request
        self.scheduler.events.emit(
            kinds.RequestArrived(
                request_id=request.request_id,
                source=request.source,
                model=request.model,
                stream=request.stream,
                priority=_PRIORITY_NAMES[request.priority],
                user=request.user,  # the client's own end-user id, when it sends one
                key_id=request.key_id,
            )
        )
        try:
            async for event in self._attempts():
                if self.scheduler.events.wants_live:
                    for one in unbatched(event):
                        if one.HasField("text"):
                            self._publish_chunk(one.text.text)
                yield event
        finally:
            self._emit_complete()

    def _refusal(self, unable: frozenset[str]) -> pb.Event | None:
        """What no worker could ever serve is refused now, not after the queue; the key's
        policy first (none of its refusals is worth another worker)."""
        if self.request.key_id and (refused := self._key_refusal()) is not None:
            return refused
        if unable and self.scheduler.servable_by(self.record) <= unable:
            return make_error(pb.INVALID_REQUEST, NO_CLIENT_TOOLS, param="tools")
        tokens = self._untrimmable_tokens()
        if tokens > HOPELESS_PROMPT_TOKENS:
            message = (
                f"the request is about {tokens:,} tokens, more than any model's context window "
                f"({MAX_CONTEXT_TOKENS:,} tokens)"
            )
            return make_error(pb.CONTEXT_TOO_LONG, message, param="messages")
        return None

    def _key_refusal(self) -> pb.Event | None:
        request = self.request
        try:
            self.record = self.scheduler.keys.admit(
                request.key_id,
                request.model,
                self.prompt_tokens,
                self.scheduler.modes,
                request.request_id,
            )
        except KeyRefused as refused:
            return refused.event()
        return None

    def _untrimmable_tokens(self) -> int:
        """What must reach the model whole: CLI workers drop the oldest turns to fit their
        budget, so there only the newest message counts; api workers send everything."""
        if self.scheduler.serves_cli and (self.record is None or self.record.modes & CLI_MODES):
            newest = self.request.messages[-1:] if self.request.messages else []
            return estimate_tokens(sum(len(_text(m)) for m in newest))
        return self.prompt_tokens

    async def _attempts(self) -> AsyncIterator[pb.Event]:
        unable = self.scheduler.unable_to_serve(self.request)
        if (refusal := self._refusal(unable)) is not None:
            self.status = error_code_name(refusal.error.code)
            yield refusal
            return
        waiter = self._waiter(unable, _PRIORITY[self.request.priority])
        while True:
            try:
                lease = await self.scheduler.admit(waiter)
            except DispatchError as exc:
                self.status = error_code_name(exc.code)
                yield exc.event()
                return
            outcome = Outcome()
            try:
                async for event in self._attempt(lease, outcome):
                    yield event
            finally:
                self._settle(lease, outcome)
            if outcome.error is None:
                self.status = "ok"
                return
            if not self._should_retry(outcome):
                self.status = error_code_name(outcome.error.code)
                if not outcome.output_started:
                    yield pb.Event(error=outcome.error)
                return
            await self._before_retry(lease, outcome.error)
            waiter = self._waiter(
                frozenset(self.tried) | unable, PRIORITY_HIGH
            )  # retries go first in their source

    def _conversation_key(self) -> str:
        """The same on every turn of a conversation: affinity and the workerd's held process
        both follow it."""
        system = "\n".join(_text(m) for m in self.request.messages if m.role == pb.ROLE_SYSTEM)
        first_user = next((_text(m) for m in self.request.messages if m.role == pb.ROLE_USER), "")
        request = self.request
        return conversation_key(
            request.session_key, request.source, system, first_user, request.key_id
        )

    def _waiter(self, exclude: frozenset[str], priority: int) -> Waiter:
        return Waiter(
            self.request, self.key, self.prompt_tokens, exclude, priority, record=self.record
        )

    async def _attempt(self, lease: Lease, outcome: Outcome) -> AsyncIterator[pb.Event]:
        handle = lease.handle
        started = self._start(lease)
        run = handle.client.run(self.request, started.attempt, self.key, lease.opened_at)
        # The Run goes out before `started` goes back: passing `started` on waits for its write
        # to the frontdoor, a loop pass or more in a burst, and the upstream call waited on it.
        first = asyncio.ensure_future(anext(run, None))
        first.add_done_callback(_retrieved)
        held: list[pb.Event] = []
        try:
            await asyncio.sleep(0)  # the task's first step: the Run call made, its send queued
            yield pb.Event(started=started)
            message = await first
            while message is not None:
                forward, ended = self._take_all(handle, message, outcome, held)
                if forward:
                    yield forward[0] if len(forward) == 1 else self._batch(message, forward)
                if ended:
                    return
                message = await anext(run, None)
        except WorkerUnavailable as exc:
            outcome.error = self._stream_failed(handle.spec.name, exc)
            if outcome.output_started:
                yield pb.Event(error=outcome.error)
        finally:
            first.cancel()  # only while pending (the client gone at `started`): the Run ends

    def _start(self, lease: Lease) -> pb.Started:
        """The attempt begins on `lease`'s worker: logged, and what the client is told."""
        handle = lease.handle
        name = handle.spec.name
        self.tried.append(name)
        self.mode = handle.spec.mode
        attempt = len(self.tried)
        self.scheduler.events.emit(
            kinds.Started(
                request_id=self.request.request_id,
                worker=name,
                attempt=attempt,
                waited_ms=int(lease.waited_s * 1000),
                prompt_tokens=self.prompt_tokens,
            )
        )
        started = pb.Started(worker=name, mode=handle.spec.mode, attempt=attempt)
        if self.record is not None and (limits := self.scheduler.keys.limits(self.record)):
            started.key_limits.CopyFrom(limits)  # the headers of a successful answer
        return started

    def _stream_failed(self, name: str, exc: WorkerUnavailable) -> pb.Error:
        """The attempt's error when its stream failed; the worker marked down only when it is
        the worker that failed."""
        if isinstance(exc, MessageTooLarge):
            message = f"request too large to pass to worker {name} (GRPC_MAX_MESSAGE_MB): {exc}"
            return make_error(pb.REQUEST_TOO_LARGE, message).error
        if _raised_by_worker(exc):
            logger.warning("worker %s failed on request %s", name, self.request.request_id)
            return make_error(pb.INTERNAL, f"worker {name} failed on this request").error
        self.scheduler.pool.mark_down(name, str(exc))
        return make_error(pb.WORKER_CRASHED, f"worker {name} became unavailable").error

    def _take_all(
        self, handle: WorkerHandle, message: pb.Event, outcome: Outcome, held: list[pb.Event]
    ) -> tuple[list[pb.Event], bool]:
        """A worker's message, event by event: what goes on to the client now (what came as
        one message goes on as one), and whether the attempt ended (an error)."""
        forward: list[pb.Event] = []
        for event in unbatched(message):
            if self._take(handle, event, outcome, held, forward):
                return forward, True
        return forward, False

    @staticmethod
    def _batch(message: pb.Event, forward: list[pb.Event]) -> pb.Event:
        """The worker's batch itself when every event of it, and nothing else, goes on (no
        copy); else a batch of `forward`."""
        events = message.batch.events if message.HasField("batch") else ()
        if len(events) == len(forward) and all(
            a is b for a, b in zip(events, forward, strict=True)
        ):
            return message
        return batched(forward)

    def _take(
        self,
        handle: WorkerHandle,
        event: pb.Event,
        outcome: Outcome,
        held: list[pb.Event],
        forward: list[pb.Event],
    ) -> bool:
        """One event of an attempt: observed, then passed on (`forward`) once output has
        started, held back before; True when it ends the attempt."""
        kind = event.WhichOneof("kind")  # once per event: every check below reads it
        self._observe(handle, event, kind)
        if kind == "session":
            return False  # how the worker served the turn: counted, never the client's
        if kind == "usage":
            outcome.usage = event.usage  # read-only from here on: no copy
            outcome.usage_seen = True
        if kind == "error":
            outcome.error = event.error
            if outcome.output_started:
                forward.append(event)
            return True
        if kind in OUTPUT_KINDS and not outcome.output_started:
            outcome.output_started = True
            self.first_output_at = self.first_output_at or self.scheduler.clock()
            for earlier in held:
                outcome.note_output(earlier, earlier.WhichOneof("kind"))
            forward.extend(held)
            held.clear()
        if outcome.output_started:
            outcome.note_output(event, kind)
            forward.append(event)
        else:
            held.append(event)
        return False

    def _observe(self, handle: WorkerHandle, event: pb.Event, kind: str | None) -> None:
        """Quota signals put the worker's account in cooldown; errors, how the turn was served
        and what an agent did are counted and logged."""
        name = handle.spec.name
        if kind == "rate_limit":
            self.scheduler.note_quota(name, event.rate_limit)
        elif kind == "error":
            self._note_error(handle, event.error)
        elif kind == "session":
            self._note_session(handle, event.session)
        elif kind == "activity":
            self.scheduler.events.emit(
                kinds.Activity(
                    request_id=self.request.request_id,
                    worker=name,
                    activity=event.activity.kind,
                    detail=event.activity.detail,
                )
            )

    def _note_session(self, handle: WorkerHandle, info: pb.SessionInfo) -> None:
        handle.sessions.note(info)
        self.scheduler.events.emit(
            kinds.TurnServed(
                request_id=self.request.request_id,
                worker=handle.spec.name,
                served=info.served,
                rebuild_reason=info.rebuild_reason,
                pid=info.pid,
                bytes_written=info.bytes_written,
            )
        )

    def _note_error(self, handle: WorkerHandle, error: pb.Error) -> None:
        handle.errors += 1
        handle.last_error = f"{error_code_name(error.code)}: {error.message[:200]}"
        self.scheduler.note_refusal(handle.spec.name, error)

    def _settle(self, lease: Lease, outcome: Outcome) -> None:
        usage = outcome.used(self.prompt_tokens)
        tokens = (
            usage.input_tokens
            + usage.output_tokens
            + usage.cache_read_tokens
            + usage.cache_write_tokens
        )
        if tokens:
            self.scheduler.correct_tokens(lease.handle.spec.name, self.request, tokens)
        self.usage = usage
        self.scheduler.release(lease, tokens)

    def _should_retry(self, outcome: Outcome) -> bool:
        assert outcome.error is not None
        if outcome.output_started or not wire_error(outcome.error.code).retryable:
            return False
        others = self.scheduler.servable_by(self.record) - set(self.tried)
        return len(self.tried) < self.scheduler.config.max_attempts and bool(others)

    async def _before_retry(self, lease: Lease, error: pb.Error) -> None:
        self.scheduler.events.emit(
            kinds.Retry(
                request_id=self.request.request_id,
                failed_worker=lease.handle.spec.name,
                error=error_code_name(error.code),
                attempt=len(self.tried),
            )
        )
        await asyncio.sleep(random.uniform(0.05, 0.2) * len(self.tried))

    def _emit_complete(self) -> None:
        now = self.scheduler.clock()
        usage = self.usage
        end = kinds.Completed if self.status == "ok" else kinds.Failed
        self.scheduler.events.emit(
            end(
                request_id=self.request.request_id,
                source=self.request.source,
                model=self.request.model,
                worker=self.tried[-1] if self.tried else "",
                mode=self.mode,
                status=self.status,
                error_category=error_category(self.status),
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                ttft_ms=int((self.first_output_at - self.arrived) * 1000)
                if self.first_output_at
                else None,
                duration_ms=int((now - self.arrived) * 1000),
                retries=max(len(self.tried) - 1, 0),
                key_id=self.request.key_id,
            )
        )

    def _publish_chunk(self, text: str) -> None:
        """Streamed text for live watchers (the dashboard), never logged or persisted."""
        self.scheduler.events.publish_live(
            kinds.Chunk(
                request_id=self.request.request_id,
                worker=self.tried[-1] if self.tried else "",
                text=text,
            )
        )


def _retrieved(task: asyncio.Future[pb.Event | None]) -> None:
    """A first read nobody awaited (the client left at `started`) keeps its error to itself."""
    if not task.cancelled():
        task.exception()


def _raised_by_worker(exc: WorkerUnavailable) -> bool:
    """The workerd answered the Run by raising (grpc's UNKNOWN): alive, failed by the request."""
    cause = exc.__cause__
    return isinstance(cause, grpc.aio.AioRpcError) and cause.code() == grpc.StatusCode.UNKNOWN


def _text(message: pb.ChatMessage) -> str:
    return "".join(block.text for block in message.content if block.HasField("text"))
