"""GET /health: minimal status, no authentication, nothing secret."""

from __future__ import annotations

from aiohttp import web

from common import __version__
from frontdoor.core.errors import ApiError
from frontdoor.state import ADMIN


async def health(request: web.Request) -> web.Response:
    try:
        workers = await request.app[ADMIN].workers(deadline_s=2.0)
    except ApiError:
        body = {"status": "down", "workers": {"up": 0, "total": 0}, "version": __version__}
        return web.json_response(body, status=503)
    total = len(workers.workers)
    up = sum(1 for worker in workers.workers if worker.state == "up")
    if total and up == total:
        status = "ok"
    elif up or not total:
        status = "degraded"
    else:
        status = "down"
    body = {"status": status, "workers": {"up": up, "total": total}, "version": __version__}
    return web.json_response(body, status=503 if status == "down" else 200)
