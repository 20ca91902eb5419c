"""Pure: from a request's credential headers to an Identity, or the refusal the client sees.

The bootstrap PROXY_AUTH_TOKEN is compared in constant time first; any other secret is looked
up in the key ring (keyring.py). A refusal names the header the client actually sent. An address
that keeps failing is refused for a while without its key being checked (backoff.py).
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from frontdoor.auth.backoff import FailedAttempts
from frontdoor.auth.identity import BOOTSTRAP, Identity
from frontdoor.auth.keyring import SECRET_PREFIX, KeyRing
from frontdoor.core.errors import ApiError

AUTHORIZATION = "Authorization"
API_KEY = "x-api-key"
NO_KEY = "no key: send Authorization: Bearer <key> or x-api-key: <key>"
NOT_LOADED = "the proxy has not loaded its keys from the controller yet; retry shortly"


@dataclass(frozen=True, slots=True)
class Presented:
    """The credential a request carries and the header it came in ("" when none)."""

    header: str
    secret: str


def presented(authorization: str | None, api_key: str | None) -> Presented:
    """A bearer credential wins over x-api-key (as before keys); an Authorization header of
    another scheme still counts as the header the client sent."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return Presented(AUTHORIZATION, credential.strip())
    if api_key:
        return Presented(API_KEY, api_key)
    if authorization:
        return Presented(AUTHORIZATION, "")
    return Presented("", "")


def invalid_key(header: str) -> ApiError:
    message = f"the key in the {header} header is not valid" if header else NO_KEY
    return ApiError(401, message, "authentication_error", code="invalid_api_key")


class Authenticator:
    """Decides who a request is: the bootstrap admin, a key of the ring, or nobody (ApiError)."""

    def __init__(
        self,
        bootstrap_token: str,
        ring: KeyRing | None = None,
        failures: FailedAttempts | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bootstrap = bootstrap_token.encode()
        self.ring = ring if ring is not None else KeyRing()
        self.failures = failures if failures is not None else FailedAttempts()
        self._wall_clock = wall_clock
        self._monotonic = monotonic

    def authenticate(
        self, authorization: str | None, api_key: str | None, address: str
    ) -> Identity:
        now = self._monotonic()
        wait = self.failures.blocked_for(address, now)
        if wait > 0:
            raise ApiError(
                429,
                "too many failed authentication attempts from this address; retry later",
                "rate_limit_error",
                code="too_many_failed_attempts",
                retry_after_s=max(1, math.ceil(wait)),
            )
        credential = presented(authorization, api_key)
        identity = self._identify(credential.secret)
        if identity is None:
            self.failures.failed(address, now)
            raise invalid_key(credential.header)
        return identity

    def _identify(self, secret: str) -> Identity | None:
        try:
            given = secret.encode()
        except UnicodeEncodeError:  # bytes that are not UTF-8: aiohttp passes them as surrogates
            return None
        if not given:
            return None
        if hmac.compare_digest(given, self._bootstrap):
            return BOOTSTRAP
        if not self.ring.loaded and secret.startswith(SECRET_PREFIX):
            # Not refused as invalid (and not counted): it may be a good key not known yet.
            raise ApiError(
                503, NOT_LOADED, "service_unavailable", code="keys_not_loaded", retry_after_s=2
            )
        return self.ring.find(given, self._wall_clock())
