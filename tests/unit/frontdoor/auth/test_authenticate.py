"""Who a request is: the bootstrap token, a key of the ring, or a refusal naming the header
the client sent; roles; the back-off answer."""

from __future__ import annotations

import hashlib

import pytest

from frontdoor.auth.authenticate import NO_KEY, Authenticator, presented
from frontdoor.auth.backoff import FailedAttempts
from frontdoor.auth.identity import BOOTSTRAP, Identity, needs_admin, role_refusal
from frontdoor.auth.keyring import KeyRing
from frontdoor.core.errors import ApiError
from protos import keys_pb2

TOKEN = "bootstrap-token-0123456789"
SECRET = "sk-ccp-" + "k" * 43
ADDRESS = "192.0.2.7"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def loaded_ring(*keys: keys_pb2.KeyInfo) -> KeyRing:
    ring = KeyRing()
    ring.replace(keys_pb2.KeyList(keys=keys, version=1))
    return ring


def key(secret: str = SECRET, role: str = "client", expires_at: float = 0) -> keys_pb2.KeyInfo:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    policy = keys_pb2.KeyPolicy(expires_at=expires_at) if expires_at else keys_pb2.KeyPolicy()
    return keys_pb2.KeyInfo(
        id="key_0123456789ab", name="ci", role=role, secret_sha256=digest, policy=policy
    )


def refusal(auth: Authenticator, authorization: str | None, api_key: str | None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        auth.authenticate(authorization, api_key, ADDRESS)
    return caught.value


def test_the_bootstrap_token_is_the_admin_without_a_key_id() -> None:
    auth = Authenticator(TOKEN)
    assert auth.authenticate(f"Bearer {TOKEN}", None, ADDRESS) is BOOTSTRAP
    assert auth.authenticate(None, TOKEN, ADDRESS) is BOOTSTRAP
    assert BOOTSTRAP.key_id == "" and BOOTSTRAP.is_admin and BOOTSTRAP.is_bootstrap


def test_a_key_of_the_ring_is_its_identity() -> None:
    auth = Authenticator(TOKEN, loaded_ring(key()))
    identity = auth.authenticate(f"bearer {SECRET}", None, ADDRESS)
    assert identity == Identity("key_0123456789ab", "ci", "client")
    assert auth.authenticate(None, SECRET, ADDRESS) == identity


@pytest.mark.parametrize(
    ("authorization", "api_key", "message"),
    [
        ("Bearer sk-ccp-wrong", None, "the key in the Authorization header is not valid"),
        (None, "sk-ccp-wrong", "the key in the x-api-key header is not valid"),
        ("Basic dXNlcjpwYXNz", None, "the key in the Authorization header is not valid"),
        ("Bearer \udcff", None, "the key in the Authorization header is not valid"),
        (None, None, NO_KEY),
        ("", "", NO_KEY),
    ],
)
def test_a_refusal_names_the_header_the_client_sent(
    authorization: str | None, api_key: str | None, message: str
) -> None:
    error = refusal(Authenticator(TOKEN, loaded_ring()), authorization, api_key)
    assert (error.status, error.message) == (401, message)
    assert (error.error_type, error.code) == ("authentication_error", "invalid_api_key")


def test_a_bearer_credential_wins_over_x_api_key() -> None:
    assert presented(f"Bearer {SECRET}", "other").header == "Authorization"
    assert presented("Basic x", SECRET).header == "x-api-key"


def test_revoked_and_expired_keys_are_refused_like_unknown_ones() -> None:
    clock = Clock()
    revoked = key(secret="sk-ccp-" + "r" * 43)
    revoked.revoked_at = 50.0
    ring = loaded_ring(revoked, key(expires_at=200.0))
    auth = Authenticator(TOKEN, ring, wall_clock=clock)
    assert auth.authenticate(f"Bearer {SECRET}", None, ADDRESS).name == "ci"
    clock.now = 200.0
    expired = refusal(auth, f"Bearer {SECRET}", None)
    gone = refusal(auth, "Bearer sk-ccp-" + "r" * 43, None)
    assert expired.message == gone.message == "the key in the Authorization header is not valid"


def test_before_the_first_list_a_proxy_key_is_asked_to_retry_and_others_refused() -> None:
    auth = Authenticator(TOKEN)  # nothing from the controller yet
    error = refusal(auth, f"Bearer {SECRET}", None)
    assert (error.status, error.retry_after_s) == (503, 2)
    assert refusal(auth, "Bearer something-else", None).status == 401
    assert auth.authenticate(f"Bearer {TOKEN}", None, ADDRESS) is BOOTSTRAP
    assert auth.failures.blocked_for(ADDRESS, 1e9) == 0


def test_an_address_that_keeps_failing_is_refused_without_a_check() -> None:
    monotonic = Clock()
    auth = Authenticator(TOKEN, loaded_ring(), FailedAttempts(), monotonic=monotonic)
    for _ in range(10):
        assert refusal(auth, "Bearer nope", None).status == 401
    blocked = refusal(auth, f"Bearer {TOKEN}", None)  # even the right token: not checked
    assert (blocked.status, blocked.code, blocked.retry_after_s) == (
        429,
        "too_many_failed_attempts",
        30,
    )
    assert auth.authenticate(f"Bearer {TOKEN}", None, "192.0.2.8") is BOOTSTRAP
    monotonic.now += 30
    assert auth.authenticate(f"Bearer {TOKEN}", None, ADDRESS) is BOOTSTRAP


@pytest.mark.parametrize(
    ("path", "admin_only"),
    [
        ("/v1/chat/completions", False),
        ("/v1/messages", False),
        ("/v1/usage", False),
        ("/v1/models", False),
        ("/metrics", True),
        ("/metrics/prometheus", True),
        ("/events", True),
        ("/stream", True),
        ("/zombies", True),
        ("/kill", True),
        ("/admin/keys", True),
        ("/admin/workers/1/drain", True),
        ("/v1", True),
        ("/no/such/path", True),
    ],
)
def test_which_paths_need_an_admin(path: str, admin_only: bool) -> None:
    assert needs_admin(path) is admin_only
    client = Identity("key_1", "ci", "client")
    admin = Identity("key_2", "ops", "admin")
    assert role_refusal(admin, path) is None
    assert role_refusal(BOOTSTRAP, path) is None
    expected = f"this key's role is client; {path} needs an admin key" if admin_only else None
    assert role_refusal(client, path) == expected
