"""Typed application keys: the frontdoor's shared objects live here, not in module globals."""

from __future__ import annotations

from aiohttp import web

from frontdoor.admin_client import AdminClient
from frontdoor.auth.authenticate import Authenticator
from frontdoor.config import FrontdoorConfig
from frontdoor.controller_client import ControllerClient
from frontdoor.shutdown import Shutdown

CONFIG = web.AppKey("config", FrontdoorConfig)
CONTROLLER = web.AppKey("controller", ControllerClient)
ADMIN = web.AppKey("admin", AdminClient)
SHUTDOWN = web.AppKey("shutdown", Shutdown)
AUTH = web.AppKey("auth", Authenticator)
"""Who a request is: the bootstrap token, the key ring (kept by auth/watch.py), the back-off."""
