"""Typed errors shared by every context (DESIGN convention 4).

Each error says what was wrong and what to do, and carries what a caller needs: an HTTP status for the
API layer and whether retrying can help.
"""

from __future__ import annotations


class EnvwatchError(Exception):
    """Base of every error envwatch raises on purpose."""

    http_status: int = 500
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(EnvwatchError):
    http_status = 404


class InvalidInput(EnvwatchError):
    """Bad input from a user or a file; nothing was stored."""

    http_status = 422


class Conflict(EnvwatchError):
    http_status = 409


class Unavailable(EnvwatchError):
    """A dependency (device connection, database) is not there right now; retrying later may work."""

    http_status = 503
    retryable = True


class Forbidden(EnvwatchError):
    """The caller is known but may not do this (role or scope)."""

    http_status = 403
