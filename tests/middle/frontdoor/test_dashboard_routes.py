"""The dashboard's shell and assets: public, strict headers, nothing outside the allow-list."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from frontdoor.auth.authenticate import Authenticator
from frontdoor.middleware import auth_middleware, error_middleware
from frontdoor.monitoring.dashboard import STATIC_DIR, add_dashboard_routes

pytestmark = pytest.mark.middle


async def secret(request: web.Request) -> web.Response:
    return web.json_response({"secret": True})


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[error_middleware, auth_middleware(Authenticator("tok"))])
    add_dashboard_routes(app)
    app.router.add_get("/metrics", secret)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/dashboard/proxy", "/dashboard/proxy/"])
async def test_shell_is_public_with_strict_headers(
    client: TestClient[web.Request, web.Application], path: str
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = await response.text()
    assert "<script>" not in body  # no inline script: only src="/dashboard/proxy/static/..."
    assert "https://" not in body and "http://" not in body  # no CDN


async def test_every_asset_is_served_with_its_type(
    client: TestClient[web.Request, web.Application],
) -> None:
    kinds = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    assets = [p for p in STATIC_DIR.iterdir() if p.suffix in kinds]
    assert {p.name for p in assets} >= {"dashboard.js", "dashboard.css", "api.js"}
    for path in assets:
        response = await client.get(f"/dashboard/proxy/static/{path.name}")
        assert response.status == 200, path.name
        assert response.headers["Content-Type"].startswith(kinds[path.suffix])
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_no_script_builds_html_from_strings() -> None:
    for path in STATIC_DIR.glob("*.js"):
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{path.name} uses {sink}"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/proxy/static/API.md",
        "/dashboard/proxy/static/index.html",
        "/dashboard/proxy/static/..%2Fapp.py",
        "/dashboard/proxy/static/%2E%2E/monitoring/dashboard.py",
        "/dashboard/proxy/static/missing.js",
    ],
)
async def test_nothing_else_is_served(
    client: TestClient[web.Request, web.Application], path: str
) -> None:
    response = await client.get(path)
    assert response.status in (401, 404)  # a dot-dot path is normalised, then needs the token


async def test_data_still_needs_the_token(
    client: TestClient[web.Request, web.Application],
) -> None:
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer tok"})).status == 200
