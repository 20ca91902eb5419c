"""Typed application keys: the frontdoor's shared objects live here, not in module globals."""

from __future__ import annotations

from aiohttp import web

from frontdoor.admin_client import AdminClient
from frontdoor.config import FrontdoorConfig
from frontdoor.controller_client import ControllerClient
from frontdoor.shutdown import Shutdown

CONFIG = web.AppKey("config", FrontdoorConfig)
CONTROLLER = web.AppKey("controller", ControllerClient)
ADMIN = web.AppKey("admin", AdminClient)
SHUTDOWN = web.AppKey("shutdown", Shutdown)
