"""Middlewares: errors in the shape of the door they came through, and client auth.

Errors are OpenAI-shaped everywhere except on the Anthropic Messages API's paths (ANTHROPIC_PATHS),
where they take Anthropic's shape."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from common.errors import HTTP_ERRORS
from frontdoor.core.errors import ApiError

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
    return web.json_response(body, status=error.status, headers=error.headers())


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


def auth_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        public = request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)
        if not public and not _authorized(request, expected):
            how = (
                "x-api-key: <PROXY_AUTH_TOKEN>"
                if is_anthropic_path(request.path)
                else "Authorization: Bearer <PROXY_AUTH_TOKEN>"
            )
            raise ApiError(
                401,
                f"missing or invalid API key: send {how}",
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
    try:
        given = candidate.encode()
    except UnicodeEncodeError:  # bytes that are not UTF-8: aiohttp passes them on as surrogates
        return False
    return hmac.compare_digest(given, expected)
