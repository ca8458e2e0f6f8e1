"""Checks of what a person types (a fault or production-stop report, a sampling plan or entry): free text,
the recording user, a time with its zone. One place, so that every form answers with the same words."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from envwatch.core.errors import InvalidInput

TEXT_MAX: Final = 4000  # a description, a reason or a comment


def text(value: str, what: str, *, required: bool, limit: int = TEXT_MAX) -> str:
    """``value`` stripped; InvalidInput when required and empty, or longer than ``limit`` (the column's)."""
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {limit}")
    return value


def actor(value: str) -> str:
    """The username recording something: 1–64 characters."""
    value = value.strip()
    if not value or len(value) > 64:
        raise InvalidInput("the person recording it must be a username of 1-64 characters")
    return value


def aware(moment: datetime, what: str) -> datetime:
    """``moment`` if it carries a time zone (a naive time would be read in the server's zone)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{what} {moment.isoformat()} has no time zone; give it with one")
    return moment
