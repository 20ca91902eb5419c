"""Middlewares: OpenAI-shaped errors for every failure, and bearer-token auth."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from frontdoor.errors import ApiError

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/health", "/dashboard/proxy", "/dashboard/proxy/"})
PUBLIC_PREFIXES = ("/dashboard/proxy/static/",)  # the dashboard's assets: no data in them
_HTTP_TYPES = {
    404: ("not_found_error", "unknown path"),
    405: ("invalid_request_error", "method not allowed"),
    413: ("invalid_request_error", "request body too large"),
}


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=error.headers())


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_type, message = _HTTP_TYPES.get(exc.status, ("invalid_request_error", exc.reason))
        if exc.status == 413:
            message = f"request body too large: {exc.text or message}"
        return error_response(ApiError(exc.status, message, error_type))
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(ApiError(500, "internal error", "internal_error"))


def auth_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        public = request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)
        if not public and not _authorized(request, expected):
            raise ApiError(
                401,
                "missing or invalid API key: send Authorization: Bearer <PROXY_AUTH_TOKEN>",
                "authentication_error",
                code="invalid_api_key",
            )
        return await handler(request)

    return middleware


def _authorized(request: web.Request, expected: bytes) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    candidate = credential.strip() if scheme.lower() == "bearer" else ""
    candidate = candidate or request.headers.get("x-api-key", "")
    return hmac.compare_digest(candidate.encode(), expected)
