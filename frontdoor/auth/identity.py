"""Pure: an authenticated identity, and which role each path needs.

Roles: `client` keys may use the model endpoints (/v1/*, their own usage at GET /v1/usage
included); `admin` keys (and the bootstrap PROXY_AUTH_TOKEN) may use everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

CLIENT = "client"
ADMIN = "admin"
CLIENT_PREFIX = "/v1/"
"""What a client key may reach: the doors, the model list and its own usage."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The key a request came with: its id ("" for the bootstrap token), name and role."""

    key_id: str
    name: str
    role: str

    @property
    def is_bootstrap(self) -> bool:
        return not self.key_id

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


BOOTSTRAP = Identity("", "(bootstrap)", ADMIN)
"""PROXY_AUTH_TOKEN: an admin with no key id and no policy, as before keys existed."""

IDENTITY = web.RequestKey("identity", Identity)
"""Where the auth middleware puts the identity on each authenticated request."""


def identity_of(request: web.Request) -> Identity:
    """The request's identity; a request the middleware never saw is the bootstrap admin's."""
    identity: Identity = request.get(IDENTITY, BOOTSTRAP)
    return identity


def needs_admin(path: str) -> bool:
    """Everything but the model endpoints is administration (monitoring, events, the
    dashboard's data, key management); an unknown path is too, so a client key learns nothing."""
    return not path.startswith(CLIENT_PREFIX)


def role_refusal(identity: Identity, path: str) -> str | None:
    """Why `identity` may not use `path` (the 403's message), or None when it may."""
    if identity.is_admin or not needs_admin(path):
        return None
    return f"this key's role is {identity.role}; {path[:200]} needs an admin key"
