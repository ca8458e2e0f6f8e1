"""What every administration page (注册管理, 用户管理) shares: the admin-only guard, form parsing, errors
shown in a form, search and paging of lists.

Audit: every POST of a logged-in person is recorded by ``web.accounts.audit.AuditMiddleware`` with the
status the browser got, refusals included (403 for a non-admin or a missing CSRF token, 409/422 for a
refused change). A GET that hands out secrets (the registry export) asks for a row with
``request.state.audit_read = True``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from envwatch.core.errors import EnvwatchError, InvalidInput
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf

log = logging.getLogger(__name__)


# ---- who may use the pages ----


def admin_viewer(viewer: CurrentViewer) -> Viewer:
    """The viewer if an admin; every other role gets the 403 page, whatever the URL (a hidden link is
    not access control)."""
    if viewer.principal.role != "admin":
        raise HTTPException(403, "only an administrator may manage the registry and the users")
    return viewer


AdminViewer = Annotated[Viewer, Depends(admin_viewer)]


# ---- forms ----


async def _form_fields(request: Request) -> dict[str, str]:
    """The posted form as text fields (files are read by the handlers that take them)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


def checked_form(request: Request, viewer: Viewer, form: Mapping[str, str]) -> None:
    """The CSRF check of every admin form (hidden ``csrf_token`` field, or htmx's header)."""
    check_csrf(request, viewer, form.get("csrf_token"))


def values_of(form: Mapping[str, str], names: Sequence[str]) -> dict[str, Any]:
    """The named fields of a form for an input model: trimmed text, an empty field as None (the models
    read None as "not given": the default, or a cleared optional value on an edit)."""
    out: dict[str, Any] = {}
    for name in names:
        text = form.get(name, "").strip()
        out[name] = text or None
    return out


def id_field(form: Mapping[str, str], name: str, what: str) -> int:
    """A chosen id (a select's value) or InvalidInput naming what to choose."""
    text = form.get(name, "").strip()
    if not text.isdigit():
        raise InvalidInput(f"choose {what}")
    return int(text)


def optional_int(form: Mapping[str, str], name: str) -> int | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"{name} {text!r} is not a number")
    return int(text)


def optional_date(form: Mapping[str, str], name: str) -> date | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} {text!r} is not a date such as 2026-07-01") from None


# never sent back into a form after a refusal
SECRET_FIELDS = frozenset({"csrf_token", "pw", "password", "password2"})


def kept_values(form: Mapping[str, str], left_out: frozenset[str] = SECRET_FIELDS) -> dict[str, str]:
    """What the user typed, given back to the form after a refusal: all but ``left_out``."""
    return {k: v for k, v in form.items() if k not in left_out}


def back_to_list(base: str, form: Mapping[str, str], saved: int | str) -> Response:
    """After an edit: back to the same page of the same search of the list at ``base``, ``saved``
    marked (post/redirect/get)."""
    where = urlencode({"q": form.get("q", ""), "page": form.get("page", ""), "saved": saved})
    return RedirectResponse(f"{base}?{where}", status_code=303)


def text_of(value: Any) -> str:
    """A stored value as a form field's text: decimals digit for digit, dates ISO, nothing as ""."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


@dataclass
class Problem:
    """An error shown in the form it came from: ``where`` is "create", a row id, or "top" (above the
    list, when that row is not on the page); ``lead`` a msgid, ``text`` the service's own message."""

    where: str
    lead: str
    text: str = ""
    values: dict[str, str] = field(default_factory=dict)
    status: int = 422

    @classmethod
    def of(cls, where: str, lead: str, exc: EnvwatchError, values: Mapping[str, str]) -> Problem:
        return cls(where, lead, exc.message, dict(values), exc.http_status)

    def place(self, shown: Iterable[str]) -> None:
        """A row's problem whose row is not on this page of the list (``shown``: the keys of the rows
        that are) is said above the list instead."""
        if self.where not in {"create", *shown}:
            self.where = "top"


# ---- lists: search and paging (web.pages.paging) ----
