"""GET /health: minimal status, no authentication, nothing secret. An admin's credentials (the
proxy token or an admin key) add each worker's state and CLI version, and the storage status:
what a probe needs stays public, what fingerprints the deployment does not. A database refusing
writes (locked, disk full) makes the status `degraded` (200): the proxy still answers, but what
it keeps waits in memory (`"storage": "degraded"` says so to anyone)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common import __version__
from frontdoor.core.errors import ApiError
from frontdoor.monitoring.metrics_json import storage_detail
from frontdoor.state import ADMIN, AUTH
from protos import controller_pb2

OK = "ok"


async def health(request: web.Request) -> web.Response:
    try:
        workers = await request.app[ADMIN].workers(deadline_s=2.0)
    except ApiError:
        down = {"status": "down", "workers": {"up": 0, "total": 0}, "version": __version__}
        return web.json_response(down, status=503)
    total = len(workers.workers)
    up = sum(1 for worker in workers.workers if worker.state == "up")
    storage = workers.storage.state or OK  # "" from a controller without the storage status
    status = overall(up, total, storage)
    summary: dict[str, Any] = {"up": up, "total": total}
    body: dict[str, Any] = {"status": status, "workers": summary, "storage": storage}
    if _from_an_admin(request):
        summary["detail"] = [_worker_detail(worker) for worker in workers.workers]
        body["storageDetail"] = storage_detail(workers.storage)
    body["version"] = __version__
    return web.json_response(body, status=503 if status == "down" else 200)


def overall(up: int, total: int, storage: str) -> str:
    """ok, degraded (some workers down, or storage failing) or down (no worker up)."""
    if total and not up:
        return "down"
    if up < total or not total or storage != OK:
        return "degraded"
    return OK


def _from_an_admin(request: web.Request) -> bool:
    """Credentials are optional here: none, or wrong ones, get the public answer (a wrong one
    still counts toward the address's back-off, so /health is no cheaper oracle than the rest)."""
    authorization, api_key = request.headers.get("Authorization"), request.headers.get("x-api-key")
    if not (authorization or api_key):
        return False
    try:
        identity = request.app[AUTH].authenticate(authorization, api_key, request.remote or "")
    except ApiError:
        return False
    return identity.is_admin


def _worker_detail(worker: controller_pb2.WorkerInfo) -> dict[str, str]:
    detail = {
        "name": worker.name,
        "mode": worker.mode,
        "state": worker.state,
        "cliVersion": worker.cli_version,
    }
    if worker.address:  # a workerd on another host
        detail["address"] = worker.address
    return detail
