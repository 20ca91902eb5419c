"""Key endpoints over the Admin service's key RPCs (shapes: static/API.md, "Keys").

GET /v1/usage (any key: its own figures; the bootstrap token: every key's), and for admins
GET /admin/keys, POST /admin/keys (the secret, once), PATCH /admin/keys/{key} and
DELETE /admin/keys/{key} (revoke), where {key} is a key's name or id. The auth middleware
keeps /admin/ for admin keys.
"""

from __future__ import annotations

from aiohttp import web

from frontdoor.auth.identity import identity_of
from frontdoor.core.door import read_json_object
from frontdoor.monitoring import keys_json
from frontdoor.monitoring.routes import json_answer
from frontdoor.state import ADMIN
from protos import keys_pb2

NO_STORE = {"Cache-Control": "no-store"}


def add_key_routes(app: web.Application) -> None:
    app.router.add_get("/v1/usage", usage)
    app.router.add_get("/admin/keys", list_keys)
    app.router.add_post("/admin/keys", create_key)
    app.router.add_patch("/admin/keys/{key}", update_key)
    app.router.add_delete("/admin/keys/{key}", revoke_key)


async def usage(request: web.Request) -> web.Response:
    identity = identity_of(request)
    admin = request.app[ADMIN]
    if identity.is_bootstrap:
        key_list = await admin.list_keys()
        return json_answer(
            request, {"object": "key_usage_list", **keys_json.key_list_json(key_list)}
        )
    report = await admin.key_usage(keys_pb2.KeyRef(id=identity.key_id))
    return json_answer(request, keys_json.report_json(report))


async def list_keys(request: web.Request) -> web.Response:
    include_revoked = request.query.get("include_revoked", "").lower() in ("1", "true", "yes")
    key_list = await request.app[ADMIN].list_keys(include_revoked)
    return json_answer(request, keys_json.key_list_json(key_list))


async def create_key(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    result = await request.app[ADMIN].create_key(keys_json.create_request(body))
    # Not masked: the secret is the answer, and this is the only time it is shown.
    answer = {"key": keys_json.key_json(result.key), "secret": result.secret}
    return web.json_response(answer, status=201, headers=NO_STORE)


async def update_key(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    ref = keys_json.key_ref(request.match_info["key"])
    info = await request.app[ADMIN].update_key(keys_json.update_request(ref, body))
    return json_answer(request, {"key": keys_json.key_json(info)})


async def revoke_key(request: web.Request) -> web.Response:
    ref = keys_json.key_ref(request.match_info["key"])
    info = await request.app[ADMIN].revoke_key(ref)
    return json_answer(request, {"key": keys_json.key_json(info)})
