"""GET /dashboard/proxy: the dashboard's HTML shell and its static assets.

Neither holds any data, so both are public; the page asks for the token and sends it as a bearer
token on every data call. The shell carries a strict Content-Security-Policy: scripts, styles and
connections only from this origin, no inline script, no framing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from aiohttp import web

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"  # frontdoor/static
PAGE_PATHS: Final = ("/dashboard/proxy", "/dashboard/proxy/")
STATIC_PREFIX: Final = "/dashboard/proxy/static/"
CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
_ASSET_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSET_NAME: Final = re.compile(r"[a-z][a-z0-9_-]*\.(?:js|css|svg)")
_COMMON_HEADERS: Final = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


async def dashboard_page(request: web.Request) -> web.FileResponse:
    headers = {
        **_COMMON_HEADERS,
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
    return web.FileResponse(STATIC_DIR / "index.html", headers=headers)


def asset_handler(names: frozenset[str]) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    """Serves one of `names` (files of the allow-listed kinds in `static/`), else 404."""

    async def dashboard_asset(request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if name not in names:
            raise web.HTTPNotFound()
        path = STATIC_DIR / name
        headers = {
            **_COMMON_HEADERS,
            "Content-Type": _ASSET_TYPES[path.suffix],
            "Cache-Control": "no-cache",
        }
        return web.FileResponse(path, headers=headers)

    return dashboard_asset


def add_dashboard_routes(app: web.Application) -> None:
    names = frozenset(p.name for p in STATIC_DIR.iterdir() if _ASSET_NAME.fullmatch(p.name))
    for path in PAGE_PATHS:
        app.router.add_get(path, dashboard_page)
    app.router.add_get(STATIC_PREFIX + "{name}", asset_handler(names))
