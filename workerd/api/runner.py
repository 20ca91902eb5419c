"""One `api` mode run: the Anthropic Messages API, always streaming (upstream.py).

One client per worker (its own connection pool), closed when the worker stops. The run owns its
upstream stream: however the run ends (finish, error, timeout, the gRPC call cancelled), the
HTTP response is closed before the run returns, so nothing keeps generating for nobody.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from common.errors import make_error
from common.logs import mask_secrets
from protos import common_pb2 as pb
from workerd.api.messages_api import MessagesCall, UnsupportedRequest, build_call
from workerd.api.messages_stream import StreamTranslator
from workerd.api.quota_headers import quota_report
from workerd.api.upstream import MessagesClient, MessagesStream, proxy_for
from workerd.api.upstream_errors import UpstreamStatusError, error_event
from workerd.coalesce import coalesced
from workerd.config import WorkerdConfig

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
        try:
            call = build_call(request, fetch_remote_images=self._config.fetch_remote_images)
        except UnsupportedRequest as exc:
            yield make_error(pb.INVALID_REQUEST, str(exc), param=exc.param)
            return
        config = self._config
        limit_ms = config.stream_timeout_ms if request.stream else config.sync_timeout_ms
        translator = StreamTranslator(call.json_tool)
        self.running += 1
        events = self._stream(call, translator, limit_ms, join=not request.stream)
        try:
            async for event in events if request.stream else _joined_text(events):
                yield event
        except TimeoutError:
            for event in translator.usage_so_far():
                yield event
            yield make_error(pb.TIMEOUT, f"the request exceeded its time limit of {limit_ms} ms")
        except Exception as exc:  # upstream_errors' exceptions, and ValueError for bad JSON
            logger.warning(  # the whole text, with any address the client is not shown
                "Messages API call failed: %s: %s",
                type(exc).__name__,
                mask_secrets(str(exc), config.spec.secrets()),
            )
            for event in translator.usage_so_far():
                yield event
            if isinstance(exc, UpstreamStatusError):
                for event in _quota_events(exc.headers):
                    yield event  # a refusal's windows, before the error that ends the run
            yield error_event(exc, config.spec.secrets())
        finally:
            self.running -= 1

    def _betas(self, call: MessagesCall) -> tuple[str, ...]:
        """The call's betas, next to the OAuth one an OAuth token always needs."""
        oauth = () if self._config.spec.api_key else (OAUTH_BETA,)
        return (*oauth, *call.betas)

    async def _stream(
        self, call: MessagesCall, translator: StreamTranslator, limit_ms: int, join: bool
    ) -> AsyncIterator[pb.Event]:
        """The upstream call, translated; the stream is closed however the run ends. With
        `join` (an answer the client gets whole), the fragments of one read become one event;
        a stream keeps every upstream delta, as the CLI path does."""
        deadline = asyncio.get_running_loop().time() + limit_ms / 1000
        stream: MessagesStream | None = None
        try:
            # No `yield` inside a timeout block: the deadline must only ever cancel our await.
            async with asyncio.timeout_at(deadline):
                stream = await self.client().stream(call.body, self._betas(call))
            for event in _quota_events(stream.headers):
                yield event
            upstream = stream.batches()
            while True:
                async with asyncio.timeout_at(deadline):
                    batch = await anext(upstream, None)
                if batch is None:
                    break
                events = [out for item in batch for out in translator.feed(item)]
                for event in coalesced(events) if join else events:
                    yield event
            for event in translator.finish():
                yield event
        finally:
            if stream is not None:
                stream.close()


async def _joined_text(events: AsyncIterator[pb.Event]) -> AsyncIterator[pb.Event]:
    """A non-streaming answer: the first text delta at once (it marks the first output), the
    following ones joined up to the next other event, so each gRPC hop carries a few messages
    instead of one per upstream delta. Nothing is held back past an error or the end."""
    pending: list[str] = []
    first = True
    try:
        async for event in events:
            if event.WhichOneof("kind") == "text" and not first:
                pending.append(event.text.text)
                continue
            first = first and event.WhichOneof("kind") != "text"
            if pending:
                yield pb.Event(text=pb.TextDelta(text="".join(pending)))
                pending = []
            yield event
    except Exception:
        if pending:
            yield pb.Event(text=pb.TextDelta(text="".join(pending)))
        raise
    if pending:
        yield pb.Event(text=pb.TextDelta(text="".join(pending)))


def _quota_events(headers: Any) -> list[pb.Event]:
    """The account's windows from the upstream's rate-limit headers, when it sent any."""
    report = quota_report(headers, time.time())
    return [] if report is None else [pb.Event(rate_limit=report)]
