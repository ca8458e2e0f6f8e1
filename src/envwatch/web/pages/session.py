"""Who is looking at a page, what they may see, and the CSRF check of page forms.

Pages accept the session cookie only (API tokens are for scripts). The scope comes from
``web.scope.resolve_scope``, exactly as for the API, so a page can never show more than the API would.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine

from envwatch.core import clock
from envwatch.core.settings import Settings
from envwatch.web.accounts.audit import UNSAFE_METHODS
from envwatch.web.accounts.sessions import SessionPolicy, session_user
from envwatch.web.auth import Principal, principal_of, session_token
from envwatch.web.scope import Scope, china_today, resolve_scope

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """No live session: the page answers with a redirect to /login?next=<this page>."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class Viewer:
    """A logged-in person: the principal, the user row (display name) and the session's CSRF token."""

    principal: Principal
    user: dict[str, Any]
    csrf_token: str

    @property
    def display_name(self) -> str:
        return str(self.user.get("display_name") or self.principal.name)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after login or a language switch; anything else (another host,
    ``//host``, a scheme) becomes ``default``, so these links cannot be used as open redirects."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(here, safe="/")


def viewer_or_none(request: Request) -> Viewer | None:
    cookie = session_token(request)
    if cookie is None:
        return None
    settings: Settings = request.app.state.settings
    engine: Engine = request.app.state.engine
    with engine.begin() as conn:
        found = session_user(conn, cookie, clock.utcnow(), SessionPolicy.from_settings(settings))
    if found is None:
        return None
    user, csrf = found
    principal = principal_of(user)
    # the audit trail of page writes (web.accounts.audit): every write of a logged-in person gets a row
    request.state.principal = principal
    request.state.auth_via = "session"
    if request.method in UNSAFE_METHODS:
        request.state.audit = True
    return Viewer(principal, user, csrf)


def current_viewer(request: Request) -> Viewer:
    """FastAPI dependency of every page but /login: the viewer, or a redirect to the login page."""
    viewer = viewer_or_none(request)
    if viewer is None:
        raise LoginRequired(login_url(request))
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def check_csrf(request: Request, viewer: Viewer, offered: str | None) -> None:
    """403 unless a page form carried the session's CSRF token (hidden field, or the header htmx sends
    from ``hx-headers`` on the body)."""
    token = offered or request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(token.encode(), viewer.csrf_token.encode()):
        raise HTTPException(403, "CSRF token missing or wrong")


def scope_of(request: Request, viewer: Viewer) -> Scope | None:
    """The viewer's scope for monitoring data, or None for a role without any (a testing agency, which
    sees sampling only): such a page shows nothing."""
    if viewer.principal.role == "agency":
        return None
    return sampling_scope(request, viewer)


def sampling_scope(request: Request, viewer: Viewer) -> Scope | None:
    """The viewer's scope, every known role (the sampling and agency pages: agencies included)."""
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            return resolve_scope(conn, viewer.principal, china_today())
    except HTTPException as exc:
        if exc.status_code == 403:
            return None
        raise


def data_scope(request: Request, viewer: Viewer) -> Scope:
    """The scope of a monitoring data page; 403 for a role without one (agency), as the device list answers."""
    scope = scope_of(request, viewer)
    if scope is None:
        raise HTTPException(403, f"role {viewer.principal.role} has no device data")
    return scope


def any_scope(request: Request, viewer: Viewer) -> Scope:
    """The scope of a sampling or agency page (every role has one; the page asks what it may see); 403 for
    an unknown role."""
    scope = sampling_scope(request, viewer)
    if scope is None:
        raise HTTPException(403, f"role {viewer.principal.role} has no access")
    return scope
