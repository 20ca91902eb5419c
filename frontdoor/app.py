"""create_app: routes, middlewares and the controller client's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import hdrs, web

from frontdoor.access_log import AccessLog
from frontdoor.admin_client import AdminClient
from frontdoor.auth.authenticate import Authenticator
from frontdoor.auth.watch import ring_lifetime
from frontdoor.chat.routes import chat_completions, get_model, list_models
from frontdoor.config import FrontdoorConfig
from frontdoor.connections import ConnectionCounter, ConnectionLimits, GatedSite
from frontdoor.controller_client import ControllerClient
from frontdoor.core.body import CONTINUE, abandon, close_abandoned, continue_refusal
from frontdoor.messages.routes import count_tokens, messages
from frontdoor.middleware import (
    add_key_limit_headers,
    auth_middleware,
    error_middleware,
    error_response,
)
from frontdoor.monitoring.dashboard import add_dashboard_routes
from frontdoor.monitoring.health import health
from frontdoor.monitoring.keys import add_key_routes
from frontdoor.monitoring.routes import add_monitoring_routes
from frontdoor.responses.routes import create_response, get_response
from frontdoor.shutdown import Shutdown
from frontdoor.state import ADMIN, AUTH, CONFIG, CONTROLLER, SHUTDOWN


def create_app(
    config: FrontdoorConfig, controller: ControllerClient | None = None
) -> web.Application:
    auth = Authenticator(config.auth_token)
    app = web.Application(
        middlewares=[error_middleware, auth_middleware(auth)],
        client_max_size=config.max_body_bytes,
        # Bodies are decoded by core/body.py, which answers a broken encoding with a 400 or 415
        # naming it (aiohttp's own decoding made it a 500, and its traceback six log lines).
        handler_args={"max_field_size": 16 * 1024, "auto_decompress": False},
    )
    app[CONFIG] = config
    app[AUTH] = auth
    app[SHUTDOWN] = Shutdown(config.shutdown_drain_ms / 1000)

    async def begin_shutdown(app: web.Application) -> None:
        app[SHUTDOWN].begin()

    app.on_shutdown.append(begin_shutdown)

    async def controller_lifetime(app: web.Application) -> AsyncIterator[None]:
        client = controller or ControllerClient(config.paths.controller_socket)
        app[CONTROLLER] = client
        app[ADMIN] = AdminClient(config.paths.controller_socket)
        yield
        await app[ADMIN].close()
        await client.close()

    app.cleanup_ctx.append(controller_lifetime)
    app.cleanup_ctx.append(ring_lifetime)  # the key watch, over the Admin client just made
    app.on_response_prepare.append(add_key_limit_headers)
    app.on_response_prepare.append(close_abandoned)
    _add_routes(app)
    return app


def _add_routes(app: web.Application) -> None:
    """The doors' routes, then monitoring, keys and the dashboard (app.py is the one module
    that knows every door)."""
    post = {"expect_handler": expect_continue}
    app.router.add_post("/v1/chat/completions", chat_completions, **post)
    app.router.add_post("/v1/responses", create_response, **post)
    app.router.add_get("/v1/responses/{response_id}", get_response)
    app.router.add_post("/v1/messages", messages, **post)
    app.router.add_post("/v1/messages/count_tokens", count_tokens, **post)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", get_model)
    app.router.add_get("/health", health)
    add_monitoring_routes(app)
    add_key_routes(app)
    add_dashboard_routes(app)


def server_options(app: web.Application) -> dict[str, Any]:
    """How the HTTP server runs the app: for start_serving, and for tests that serve it in
    process."""
    return {
        # A client that goes away cancels its handler, and with it the controller call.
        "handler_cancellation": True,
        "access_log_class": AccessLog,  # access_log.FORMAT's line, built directly
        "shutdown_timeout": app[SHUTDOWN].handler_timeout_s,
        # aiohttp arms this at connect and after each answer: a request head must be complete
        # within it, and an idle keep-alive connection is closed after it.
        "keepalive_timeout": app[CONFIG].header_timeout_ms / 1000,
    }


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue`: the client is told to send its body only when it may (aiohttp's
    default says continue to anything, and a 10 GB body got its 413 after 20 MB had come).
    A refusal closes the connection: the body it announced is not read."""
    refusal = continue_refusal(
        request.headers.get(hdrs.EXPECT, ""),
        request.content_length,
        request.app[CONFIG].max_body_bytes,
    )
    if refusal is None:
        await request.writer.write(CONTINUE)
        return None
    abandon(request)
    return error_response(refusal, request)


async def start_serving(
    app: web.Application, limits: ConnectionLimits
) -> tuple[web.AppRunner, GatedSite]:
    """`app` served on the configured address as run_app serves it (server_options), each
    connection passing the per-address and total caps first (connections.py). The runner's
    cleanup stops it as run_app does: stop accepting, on_shutdown, the answers' grace."""
    config = app[CONFIG]
    runner = web.AppRunner(app, **server_options(app))
    await runner.setup()
    site = GatedSite(runner, config.host, config.port, ConnectionCounter(limits))
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site
