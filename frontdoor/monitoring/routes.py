"""Monitoring endpoints, all answered by the controller's Admin service (shapes: static/API.md).

GET /metrics, /metrics/prometheus, /metrics/history, /events, /stream (SSE), /zombies;
POST /kill and POST /zombies. The auth middleware guards every one of them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from common.logs import mask_json, mask_secrets
from frontdoor.core.body import read_body
from frontdoor.core.door import parse_json
from frontdoor.core.errors import ApiError
from frontdoor.core.event_feed import ReadAhead
from frontdoor.core.streaming import KEEPALIVE_S, ClientGone, write_or_drop
from frontdoor.monitoring import metrics_json, prometheus
from frontdoor.state import ADMIN, CONFIG, SHUTDOWN

logger = logging.getLogger(__name__)
WINDOWS = ("1h", "6h", "1d", "7d")
MAX_EVENTS = 1000
MAX_ID = 2**62
STREAM_BUFFER = 256  # events read ahead from the controller per /stream client
_TYPE = re.compile(r"^[A-Za-z0-9_.-]{0,64}$")
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


class StreamSlots:
    """The live GET /stream feeds open now, against FrontdoorConfig.max_dashboard_streams: each
    one holds a watch on the controller and read-ahead here, so their number is bounded."""

    def __init__(self) -> None:
        self.open = 0

    def take(self, cap: int) -> None:
        if self.open >= cap:
            raise ApiError(
                429,
                f"{cap} live event streams are open, the most this proxy serves at once; "
                "close one or poll GET /events",
                "rate_limit_error",
                code="too_many_streams",
                retry_after_s=STREAM_RETRY_S,
            )
        self.open += 1

    def give_back(self) -> None:
        self.open -= 1


STREAMS = web.AppKey("dashboard_streams", StreamSlots)
STREAM_RETRY_S = 5


def add_monitoring_routes(app: web.Application) -> None:
    app[STREAMS] = StreamSlots()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/metrics/prometheus", metrics_prometheus)
    app.router.add_get("/metrics/history", metrics_history)
    app.router.add_get("/events", events)
    app.router.add_get("/stream", stream)
    app.router.add_get("/zombies", zombies)
    app.router.add_post("/zombies", kill)
    app.router.add_post("/kill", kill)
    app.router.add_post("/admin/workers/{name}/drain", drain_worker)
    app.router.add_post("/admin/workers/{name}/resume", resume_worker)


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number", param=name) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}", param=name)
    return value


def type_query(request: web.Request) -> str:
    kind = request.query.get("type", "").strip()
    if not _TYPE.match(kind):
        raise ApiError(400, "type must be an event type such as complete", param="type")
    return kind


def masked(request: web.Request, data: Any) -> Any:
    """Defence in depth: no credential-shaped string or the proxy's token leaves as data.

    Masked value by value: rewriting the serialised text would mask inside numbers and syntax."""
    return mask_json(data, (request.app[CONFIG].auth_token,))


def json_answer(request: web.Request, data: Any) -> web.Response:
    return web.json_response(masked(request, data))


async def metrics(request: web.Request) -> web.Response:
    return json_answer(request, metrics_json.metrics(await request.app[ADMIN].stats()))


async def metrics_prometheus(request: web.Request) -> web.Response:
    secrets = (request.app[CONFIG].auth_token,)
    stats = await request.app[ADMIN].stats()
    text = prometheus.render(stats, lambda label: mask_secrets(label, secrets))
    return web.Response(body=text.encode(), headers={"Content-Type": prometheus.CONTENT_TYPE})


async def metrics_history(request: web.Request) -> web.Response:
    window = request.query.get("window", "1h")
    if window not in WINDOWS:
        raise ApiError(400, f"window must be one of {', '.join(WINDOWS)}", param="window")
    return json_answer(request, await request.app[ADMIN].history(window))


async def events(request: web.Request) -> web.Response:
    since_id = int_query(request, "since_id", 0, 0, MAX_ID)
    limit = int_query(request, "limit", 50, 1, MAX_EVENTS)
    found = await request.app[ADMIN].events(since_id, limit, type_query(request))
    return json_answer(request, found)


async def zombies(request: web.Request) -> web.Response:
    return json_answer(request, await request.app[ADMIN].processes())


async def kill(request: web.Request) -> web.Response:
    pid = await _pid(request)
    result = await request.app[ADMIN].kill(pid)
    if not result.killed:
        raise ApiError(
            404,
            f"pid {pid} is not a CLI process this proxy started",
            "not_found_error",
            code="process_not_found",
            param="pid",
        )
    body = {"killed": True, "pid": pid, "worker": result.worker, "message": result.message}
    return json_answer(request, {"result": body})


async def _pid(request: web.Request) -> int:
    body = parse_json(await read_body(request) or b"null")
    pid = body.get("pid") if isinstance(body, dict) else None
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:
        raise ApiError(400, "pid must be a positive whole number", param="pid")
    return pid


# -- POST /admin/workers/{name}/drain|resume -------------------------------------------------


async def drain_worker(request: web.Request) -> web.Response:
    return await _set_draining(request, True)


async def resume_worker(request: web.Request) -> web.Response:
    return await _set_draining(request, False)


async def _set_draining(request: web.Request, draining: bool) -> web.Response:
    name = request.match_info["name"]
    admin = request.app[ADMIN]
    await admin.set_draining(name, draining)
    stats = await admin.stats()
    worker = next(w for w in metrics_json.workers(stats) if w["name"] == name)
    return json_answer(request, {"worker": worker})


# -- GET /stream ---------------------------------------------------------------------------


def sse_frame(event: dict[str, Any]) -> str:
    """One event as an SSE message; logged events carry their id, live-only ones (0) do not."""
    head = f"id: {event['id']}\n" if event["id"] else ""
    return f"{head}data: {json.dumps(event, separators=(',', ':'))}\n\n"


def _last_event_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID", "").strip()
    return int(raw) if raw.isdigit() and int(raw) <= MAX_ID else 0


async def stream(request: web.Request) -> web.StreamResponse:
    since_id = int_query(request, "since_id", _last_event_id(request), 0, MAX_ID)
    replay = int_query(request, "replay", 50, 0, MAX_EVENTS)
    chunks = request.query.get("chunks", "1").lower() not in ("0", "false", "no")
    kind = type_query(request)
    slots = request.app[STREAMS]
    slots.take(request.app[CONFIG].max_dashboard_streams)  # before the controller is asked
    try:
        return await _stream(request, request.app[ADMIN].watch(since_id, replay, kind, chunks))
    finally:
        slots.give_back()


async def _stream(request: web.Request, watch: AsyncIterator[dict[str, Any]]) -> web.StreamResponse:
    # Read ahead at most STREAM_BUFFER events; beyond that the controller drops, not us.
    feed: ReadAhead[dict[str, Any]] = ReadAhead(watch, STREAM_BUFFER)
    request.app[SHUTDOWN].watch(feed)  # a stop ends it at once: there is no answer to finish
    try:
        if await feed.next() is None:  # the controller's first message says the feed is live
            raise ApiError(
                503, "the event feed is unavailable; retry shortly", "service_unavailable"
            )
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        await response.write(b"retry: 3000\n: connected\n\n")
        await _relay(request, response, feed)
    finally:
        await feed.close()
    return response


async def _relay(
    request: web.Request, response: web.StreamResponse, feed: ReadAhead[dict[str, Any]]
) -> None:
    while True:
        try:
            event = await feed.next(KEEPALIVE_S)
        except TimeoutError:
            frame = b": keepalive\n\n"
        else:
            if event is None:
                return
            frame = sse_frame(masked(request, event)).encode()
        try:
            await write_or_drop(request, response, frame)
        except ClientGone:
            return
