"""Pure: a key's secret, its hash, its recognisable prefix and its id.

A secret is 256 random bits, so a fast hash (sha256) is the right one to store; argon2 or bcrypt
are for passwords a person chose. Only the hash is kept; the secret exists once, in CreateKey's
answer.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

SECRET_PREFIX = "sk-ccp-"
PREFIX_CHARS = 11  # "sk-ccp-" and four characters of the secret: enough to recognise it
ID_PREFIX = "key_"


def new_secret() -> str:
    """`sk-ccp-` and 43 url-safe base64 characters of 32 random bytes."""
    return SECRET_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def prefix_of(secret: str) -> str:
    return secret[:PREFIX_CHARS]


def new_key_id() -> str:
    """`key_` and 12 random hex characters: safe to show and to log."""
    return ID_PREFIX + secrets.token_hex(6)
