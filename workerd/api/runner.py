"""One `api` mode run: the Anthropic Messages API, always streaming (upstream.py).

One client per worker (its own connection pool), closed when the worker stops. The run owns its
upstream stream: however the run ends (finish, error, timeout, the gRPC call cancelled), the
HTTP response is closed before the run returns, so nothing keeps generating for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

from common.errors import make_error
from common.events import batched
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.anthropic.stream import StreamTranslator
from workerd.api.coalesce import TextJoiner, coalesced
from workerd.api.messages_api import MessagesCall, build_call
from workerd.api.quota_headers import quota_report
from workerd.api.upstream import MessagesClient, MessagesStream, encoded, proxy_for
from workerd.api.upstream_errors import UpstreamStatusError, error_event
from workerd.config import WorkerdConfig
from workerd.preparing import prepared

logger = logging.getLogger(__name__)
OAUTH_BETA = "oauth-2025-04-20"


class ApiRunner:
    """Runs requests on this worker's account through the Messages API."""

    def __init__(self, config: WorkerdConfig) -> None:
        self._config = config
        self._client: MessagesClient | None = None
        self.running = 0

    @property
    def has_credential(self) -> bool:
        return bool(self._config.spec.api_key or self._config.spec.token)

    def client(self) -> MessagesClient:
        """The worker's client, made on first use: API key, else the OAuth token (best effort)."""
        if self._client is None:
            spec, base_url = self._config.spec, self._config.anthropic_base_url
            self._client = MessagesClient(
                base_url,
                api_key=spec.api_key,
                token=spec.token,
                proxy=proxy_for(base_url, dict(spec.env), os.environ),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def run(self, request: pb.ChatRequest) -> AsyncIterator[pb.Event]:
        if not self.has_credential:
            yield make_error(
                pb.UPSTREAM_AUTH,
                f"worker {self._config.spec.name} is in api mode but has no api_key or token",
            )
            return
        fetch = self._config.fetch_remote_images
        async with prepared(lambda: _encoded_call(request, fetch), request) as made:
            if isinstance(made, pb.Event):
                yield made
                return
            async with contextlib.aclosing(self._call(request, *made)) as events:
                async for event in events:  # closed at once, however the run ends
                    yield event

    async def _call(
        self, request: pb.ChatRequest, call: MessagesCall, data: bytes
    ) -> AsyncGenerator[pb.Event, None]:
        config = self._config
        limit_ms = config.stream_timeout_ms if request.stream else config.sync_timeout_ms
        translator = StreamTranslator(call.json_tool)
        self.running += 1
        joiner = None if request.stream else TextJoiner()
        try:
            async for events in self._stream(call, data, translator, limit_ms):
                if joiner is not None:
                    events = joiner.feed(coalesced(events))
                if events:
                    yield batched(events)  # what one read gave: one message on every hop
            if joiner is not None and (rest := joiner.flush()):
                yield batched(rest)
        except Exception as exc:  # upstream_errors' exceptions, ValueError for bad JSON, timeout
            held = joiner.flush() if joiner is not None else []
            yield batched([*held, *self._failure(exc, translator, limit_ms)])
        finally:
            self.running -= 1

    def _failure(
        self, exc: Exception, translator: StreamTranslator, limit_ms: int
    ) -> list[pb.Event]:
        """The events that end a failed call: the usage reported so far (input is billed
        anyway), a refusal's quota windows, then the error."""
        tail = translator.usage_so_far()
        if isinstance(exc, TimeoutError):
            message = f"the request exceeded its time limit of {limit_ms} ms"
            return [*tail, make_error(pb.TIMEOUT, message)]
        secrets = self._config.spec.secrets()
        logger.warning(  # the whole text, with any address the client is not shown
            "Messages API call failed: %s: %s",
            type(exc).__name__,
            mask_secrets(str(exc), secrets),
        )
        if isinstance(exc, UpstreamStatusError):
            tail += _quota_events(exc.headers)  # a refusal's windows, before the error
        return [*tail, error_event(exc, secrets)]

    def _betas(self, call: MessagesCall) -> tuple[str, ...]:
        """The call's betas, next to the OAuth one an OAuth token always needs."""
        oauth = () if self._config.spec.api_key else (OAUTH_BETA,)
        return (*oauth, *call.betas)

    async def _stream(
        self, call: MessagesCall, data: bytes, translator: StreamTranslator, limit_ms: int
    ) -> AsyncIterator[list[pb.Event]]:
        """The upstream call, translated read by read (the quota windows of its headers with
        the first, the usage and finish with the one that ends the message); the stream is
        closed however the run ends."""
        deadline = asyncio.get_running_loop().time() + limit_ms / 1000
        stream: MessagesStream | None = None
        try:
            # No `yield` inside a timeout block: the deadline must only ever cancel our await.
            async with asyncio.timeout_at(deadline):
                stream = await self.client().stream(data, self._betas(call))
            head, finished = _quota_events(stream.headers), False
            upstream = stream.batches()
            while True:
                async with asyncio.timeout_at(deadline):
                    batch = await anext(upstream, None)
                if batch is None:
                    break
                events = [*head, *(out for item in batch for out in translator.feed(item))]
                head = []
                if translator.complete and not finished:
                    finished = True  # read on to the end all the same: the connection is reused
                    events += translator.finish()
                yield events
            if not finished:
                yield [*head, *translator.finish()]
        finally:
            if stream is not None:
                stream.close()


def _encoded_call(request: pb.ChatRequest, fetch: bool) -> tuple[MessagesCall, bytes]:
    """The call and its JSON, made together: both are the request's own work (a large one off
    the loop), and a value JSON cannot carry is the request's 400, not the upstream's 502."""
    call = build_call(request, fetch_remote_images=fetch)
    return replace(call, body={}), encoded(call.body)  # the bytes travel; no second copy kept


def _quota_events(headers: Any) -> list[pb.Event]:
    """The account's windows from the upstream's rate-limit headers, when it sent any."""
    report = quota_report(headers, time.time())
    return [] if report is None else [pb.Event(rate_limit=report)]
