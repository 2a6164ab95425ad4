"""Accounts: argon2 password hashes, password rules, opaque session tokens, login rate limits.

A session token is 32 random bytes; the database keeps only its SHA-256, so a copy of the
database does not let anyone sign in. Each session has its own CSRF token for cookie-borne
requests that change something.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from crossings.errors import ConfigError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "hash_password",
    "verify_password",
    "check_password_rules",
    "new_token",
    "token_digest",
    "RateLimit",
    "set_hash_cost",
]

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so that timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
# The most common passwords of breach lists (NIST SP 800-63B asks to refuse known ones).
_COMMON = {
    "password1234",
    "123456789012",
    "qwertyuiop12",
    "passwordpassword",
    "iloveyou1234",
    "administrator",
    "letmein12345",
    "welcome12345",
    "changeme1234",
    "qwerty123456",
}


def set_hash_cost(time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
    """Argon2 cost of new hashes (RFC 9106 defaults); verifying reads the cost from the hash.

    Tests lower it so that a hundred sign-ins take milliseconds; a deployment keeps the default.
    """
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; costs the same time whether or not the user exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_password_rules(password: str, username: str) -> None:
    """Refuse short, common or username-based passwords (one clear message naming the rule)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"must have at least {MIN_PASSWORD_LENGTH} characters; got {len(password)}",
            field="password",
        )
    if password.lower() in _COMMON or len(set(password)) < 5:
        raise ConfigError("is a common or repetitive password; choose another", field="password")
    if username and username.lower() in password.lower():
        raise ConfigError("must not contain the user name", field="password")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class RateLimit:
    """At most ``per_user`` failures per user name and ``per_address`` per address in ``window``."""

    def __init__(self, per_user: int = 5, per_address: int = 20, window_s: int = 900):
        self.per_user = per_user
        self.per_address = per_address
        self.window = dt.timedelta(seconds=window_s)

    def since(self, now: dt.datetime) -> dt.datetime:
        return now - self.window

    def blocked(self, failures_for_user: int, failures_from_address: int) -> bool:
        return failures_for_user >= self.per_user or failures_from_address >= self.per_address
