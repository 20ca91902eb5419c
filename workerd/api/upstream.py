"""The Messages API over one aiohttp session per worker: a streamed call, its events as dicts.

Why not the `anthropic` SDK here: on this hot path the SDK built a request object, a model
object per stream event and an httpx-shaped response around aiohttp, for about 2.5 ms of CPU
per call on this machine, and loaded some 50 MiB into every api workerd
(bench/results/hot_path.md). The wire format is small and stable: a JSON body, a few headers,
server-sent events whose JSON the translator reads as is. Retries are the controller's, so
the client has none.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from workerd.api.sse import SseDecoder, SseEvent
from workerd.api.upstream_errors import UpstreamBroken, UpstreamStatusError, UpstreamUnreachable

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
MAX_ERROR_BODY = 64 * 1024
CONNECT_TIMEOUT_S = 30.0  # the run's own deadline bounds the rest


class MessagesStream:
    """One streamed answer: the response headers, then its events; `close` ends it early."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.headers: Mapping[str, str] = response.headers

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The stream's JSON events, a list per read from the socket (what arrived together);
        an `error` event raises UpstreamStatusError after the events that came before it."""
        decoder = SseDecoder()
        try:
            async for chunk in self._response.content.iter_any():
                batch: list[dict[str, Any]] = []
                for sse in decoder.feed(chunk):
                    event = _event(sse)
                    if event["type"] == "error":
                        if batch:
                            yield batch
                        raise UpstreamStatusError.from_body(200, sse.data, self.headers)
                    if event["type"] != "ping":
                        batch.append(event)
                if batch:
                    yield batch
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(type(exc).__name__) from exc

    def close(self) -> None:
        """Drops the connection of an answer not read to its end, so the upstream stops
        generating for nobody. (One read to the end is back in the pool already.)"""
        self._response.close()


class MessagesClient:
    """The worker's connection pool to the Messages API and its credential headers."""

    def __init__(
        self, base_url: str, *, api_key: str = "", token: str = "", proxy: str = ""
    ) -> None:
        self._url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        self._headers = _credential_headers(api_key, token)
        self._proxy = proxy or None
        self._session: aiohttp.ClientSession | None = None

    @property
    def closed(self) -> bool:
        return self._session is None

    async def stream(
        self, body: Mapping[str, Any] | bytes, betas: tuple[str, ...]
    ) -> MessagesStream:
        """POST a streamed call (`body` as a dict, or already `encoded`); an error status raises
        UpstreamStatusError with its headers."""
        headers = {**self._headers, "anthropic-beta": ",".join(betas)} if betas else self._headers
        data = body if isinstance(body, bytes) else encoded(body)
        try:
            response = await self._open().post(
                self._url, data=data, headers=headers, proxy=self._proxy
            )
        except aiohttp.ClientError as exc:
            raise UpstreamUnreachable(type(exc).__name__) from exc
        if response.status >= 300:
            try:
                raw = await response.content.read(MAX_ERROR_BODY)
            except aiohttp.ClientError:
                raw = b""
            finally:
                response.close()
            raise UpstreamStatusError.from_body(response.status, raw, response.headers)
        return MessagesStream(response)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                # No pool limit: the controller's admission bounds what runs on this account.
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
                # No trust_env: it looks the proxy and ~/.netrc up again on every request, in
                # a thread (a quarter of this process's CPU under load); proxy_for did it once.
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def proxy_for(base_url: str, env: Mapping[str, str], process_env: Mapping[str, str]) -> str:
    """The proxy for the API's address: the worker entry's own `env` first, then the process
    environment (with its NO_PROXY), as the CLI would take them; "" for none."""
    url = base_url or DEFAULT_BASE_URL
    scheme = "https" if url.startswith("https") else "http"
    names = [f"{scheme}_proxy", "all_proxy"]
    for source in (env, process_env):
        for key in (name for lower in names for name in (lower.upper(), lower)):
            if source.get(key):
                return "" if _bypassed(url, source) else source[key]
    return ""


def _bypassed(url: str, source: Mapping[str, str]) -> bool:
    """NO_PROXY (a comma-separated list of hosts and domain suffixes, or `*`) covers `url`."""
    host = (urlsplit(url).hostname or "").lower()
    listed = source.get("NO_PROXY") or source.get("no_proxy") or ""
    for entry in (item.strip().lower().lstrip(".") for item in listed.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def _event(sse: SseEvent) -> dict[str, Any]:
    """One event's JSON; ValueError when it is not a typed JSON object."""
    event = json.loads(sse.data) if sse.data else {}
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError(f"a stream event that is not a typed JSON object: {sse.event}")
    if sse.event == "error":
        event["type"] = "error"
    return event


def _credential_headers(api_key: str, token: str) -> dict[str, str]:
    """An API key as `x-api-key`; an OAuth token as a bearer token (with its beta, added by
    the runner). Never both."""
    headers = {
        "anthropic-version": API_VERSION,
        "content-type": "application/json",
        "accept": "text/event-stream",
    }
    if api_key:
        headers["x-api-key"] = api_key
    elif token:
        headers["authorization"] = f"Bearer {token}"
    return headers


def encoded(body: Mapping[str, Any]) -> bytes:
    """The JSON a streamed call sends (never NaN or Infinity: ValueError), message by message.

    The same bytes as one `json.dumps`, but one C call of a huge body holds the GIL for seconds,
    and a build off the event loop (workerd/preparing.py) would still stop it; small calls let
    the loop run between them."""
    fields = []
    for key, value in {**body, "stream": True}.items():
        if key == "messages" and isinstance(value, list):
            text = "[" + ",".join(_json(message) for message in value) + "]"
        else:
            text = _json(value)
        fields.append(f"{_json(key)}:{text}")
    return ("{" + ",".join(fields) + "}").encode()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
