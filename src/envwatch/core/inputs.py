"""Checks of what a person types (a fault or production-stop report, a personnel file, a sampling plan or
entry): free text, the recording user, a time with its zone, a phone number, a linked web account. One
place, so that every form answers with the same words."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from envwatch.core.errors import InvalidInput

TEXT_MAX: Final = 4000  # a description, a reason or a comment
# digits with the separators people write: 13800138000, +86 138 0013 8000, 0591-8765 4321, (0591)87654321
PHONE: Final = re.compile(r"[0-9+()\- ]{3,32}")
# the rule of web accounts (web.accounts.store uses it): lower case, 2-64 characters
USERNAME: Final = re.compile(r"[a-z0-9][a-z0-9_.@-]{1,63}")


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


def phone(value: str, *, required: bool = True) -> str:
    """A phone number as typed (trimmed); "" when not required and empty."""
    value = value.strip()
    if not value and not required:
        return ""
    if not PHONE.fullmatch(value):
        raise InvalidInput(
            f"phone {value!r}: 3 to 32 digits, spaces and + - ( ), such as 13800138000 or 0591-87654321"
        )
    return value


def linked_username(value: str | None) -> str | None:
    """The web account a personnel file links (lower case, as accounts are stored), None for no link."""
    if value is None or not value.strip():
        return None
    name = value.strip().lower()
    if not USERNAME.fullmatch(name):
        raise InvalidInput(
            f"username {value!r}: 2 to 64 characters, letters, digits and _ . @ -, starting with a letter or digit"
        )
    return name
