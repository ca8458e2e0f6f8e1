"""Password hashing (argon2id, argon2-cffi's RFC 9106 defaults) and the password policy."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from envwatch.core.errors import InvalidInput

MAX_LENGTH = 1024  # a megabyte "password" would only cost hashing time

_hasher = PasswordHasher()  # argon2id; its parameters are in each hash, so raising them later is safe


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches, and a new hash to store when the stored one uses weaker parameters
    than the current defaults (rehash on login: the only moment the plain password is at hand)."""
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def burn_verification(password: str) -> None:
    """Spend the time of one verification when there is no user: an unknown username then answers as
    slowly as a wrong password, so response times do not tell which usernames exist."""
    verify_password(_dummy_hash(), password)


def check_policy(password: str, *, username: str, min_length: int) -> None:
    """Raise InvalidInput (422) when the password is too weak to store; the message says what to change."""
    if len(password) < min_length:
        raise InvalidInput(f"password too short: at least {min_length} characters are needed")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password too long: at most {MAX_LENGTH} characters")
    if password.strip().lower() == username.strip().lower():
        raise InvalidInput("password must not be the username")
