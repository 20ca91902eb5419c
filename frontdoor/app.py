"""create_app: routes, middlewares and the controller client's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from frontdoor.access_log import AccessLog
from frontdoor.admin_client import AdminClient
from frontdoor.auth.authenticate import Authenticator
from frontdoor.auth.watch import ring_lifetime
from frontdoor.chat.routes import chat_completions, get_model, list_models
from frontdoor.config import FrontdoorConfig
from frontdoor.controller_client import ControllerClient
from frontdoor.messages.routes import count_tokens, messages
from frontdoor.middleware import add_key_limit_headers, auth_middleware, error_middleware
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
        handler_args={"max_field_size": 16 * 1024},
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
    _add_routes(app)
    return app


def _add_routes(app: web.Application) -> None:
    """The doors' routes, then monitoring, keys and the dashboard (app.py is the one module
    that knows every door)."""
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/responses", create_response)
    app.router.add_get("/v1/responses/{response_id}", get_response)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", get_model)
    app.router.add_get("/health", health)
    add_monitoring_routes(app)
    add_key_routes(app)
    add_dashboard_routes(app)


def server_options(app: web.Application) -> dict[str, Any]:
    """How the HTTP server runs the app: for run_app, and for tests that serve it in process."""
    return {
        # A client that goes away cancels its handler, and with it the controller call.
        "handler_cancellation": True,
        "access_log_class": AccessLog,  # access_log.FORMAT's line, built directly
        "shutdown_timeout": app[SHUTDOWN].handler_timeout_s,
        # aiohttp arms this at connect and after each answer: a request head must be complete
        # within it, and an idle keep-alive connection is closed after it.
        "keepalive_timeout": app[CONFIG].header_timeout_ms / 1000,
    }
