"""Middlewares: errors in the shape of the door they came through, and client auth.

Errors are OpenAI-shaped everywhere except on the Anthropic Messages API's paths (ANTHROPIC_PATHS),
where they take Anthropic's shape. Auth (frontdoor/auth/) puts the caller's Identity on the
request, or refuses: 401 naming the header sent, 403 for a client key on an admin path, 429 for
an address that keeps failing. A key's limits become headers here (errors) and in
`add_key_limit_headers` (answers): core/limit_headers.py writes them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from common.errors import HTTP_ERRORS
from frontdoor.auth.authenticate import Authenticator
from frontdoor.auth.identity import IDENTITY, role_refusal
from frontdoor.core.door import COMPLETION_FEED
from frontdoor.core.errors import ApiError
from frontdoor.core.limit_headers import limit_headers

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/health", "/dashboard/proxy", "/dashboard/proxy/"})
PUBLIC_PREFIXES = ("/dashboard/proxy/static/",)  # the dashboard's assets: no data in them
ANTHROPIC_PATHS = ("/v1/messages",)


def is_anthropic_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in ANTHROPIC_PATHS)


def error_response(error: ApiError, request: web.Request | None = None) -> web.Response:
    anthropic = request is not None and is_anthropic_path(request.path)
    body = error.anthropic_body() if anthropic else error.body()
    headers = {**error.headers(), **limit_headers(error.key_limits, anthropic)}
    return web.json_response(body, status=error.status, headers=headers)


async def add_key_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: an answer admitted under a key's per-minute limits carries them
    (Started.key_limits), in the door's flavour; an error carries its own (error_response)."""
    feed = request.get(COMPLETION_FEED)
    if feed is None or feed.started is None or response.status >= 400:
        return
    if feed.started.HasField("key_limits"):
        anthropic = is_anthropic_path(request.path)
        response.headers.update(limit_headers(feed.started.key_limits, anthropic))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_type, message = HTTP_ERRORS.get(exc.status, ("invalid_request_error", exc.reason))
        if exc.status == 413:
            message = f"request body too large: {exc.text or message}"
        return error_response(ApiError(exc.status, message, error_type), request)
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(ApiError(500, "internal error", "internal_error"), request)


def auth_middleware(auth: Authenticator) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return await handler(request)
        headers = request.headers
        identity = auth.authenticate(
            headers.get("Authorization"), headers.get("x-api-key"), request.remote or ""
        )
        refusal = role_refusal(identity, path)
        if refusal is not None:
            raise ApiError(403, refusal, "permission_error", code="insufficient_role")
        request[IDENTITY] = identity
        return await handler(request)

    return middleware
