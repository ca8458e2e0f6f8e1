"""Authentication: one dependency every API endpoint goes through.

``authenticate`` finds who is asking, in this order:

1. a token in ``Authorization: Bearer <token>`` or ``X-API-Token``: the admin token (from settings or
   generated once into ``<data_dir>/admin_token``) is the built-in admin; any other token must be a live
   per-user API token (``web.accounts.tokens``) of an active user;
2. else the session cookie of a browser login (``web.accounts.sessions``); writes (POST, PUT, PATCH,
   DELETE) must then carry the session's CSRF token in ``X-CSRF-Token``. Token requests need none: a
   browser never adds such headers on its own, so a forged cross-site request cannot carry them;
3. else 401.

The ``Principal`` is built from the user row on every request, so a changed role, scope or deactivation
applies at once. It is also put on ``request.state.principal`` for the audit trail.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from envwatch.core import clock
from envwatch.core.settings import Settings
from envwatch.web.accounts.sessions import SessionPolicy, session_user
from envwatch.web.accounts.tokens import user_of_api_token

ROLES = ("admin", "regulator", "enterprise", "operator", "field_staff", "agency", "auditor")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Principal:
    """Who is asking, and what they may see (the scope is enforced in ``web.scope``, one place for the API
    and the pages alike). Roles (REQUIREMENTS, top): admin; regulator of a region (行政区划: province 2
    digits ⊃ city 4 ⊃ county 6); enterprise (its own outlets); operator and its field staff (contracted
    outlets); testing agency; auditor (read-only, one operator, one period)."""

    name: str
    role: str
    user_id: int | None = None
    region_code: str | None = None  # regulator
    enterprise_id: int | None = None  # enterprise
    operator_id: int | None = None  # operator, field_staff, auditor
    agency_id: int | None = None  # agency
    period: tuple[date, date] | None = None  # auditor: the period they may read


ADMIN = Principal(name="admin", role="admin")


def principal_of(user: dict[str, Any]) -> Principal:
    """The principal a ``users`` row stands for."""
    period = None
    if user["period_from"] is not None and user["period_to"] is not None:
        period = (user["period_from"], user["period_to"])
    return Principal(
        name=user["username"],
        role=user["role"],
        user_id=user["id"],
        region_code=user["region_code"],
        enterprise_id=user["enterprise_id"],
        operator_id=user["operator_id"],
        agency_id=user["agency_id"],
        period=period,
    )


def admin_token(settings: Settings) -> str:
    """The configured token, or the one stored in the data directory (created on first use, mode 0600)."""
    if settings.admin_token:
        return settings.admin_token
    path: Path = settings.data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")
_header = APIKeyHeader(name="X-API-Token", auto_error=False, description="or X-API-Token: <token>")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def session_token(request: Request) -> str | None:
    """The session cookie of the request, if any."""
    settings: Settings = request.app.state.settings
    return request.cookies.get(settings.session_cookie_name)


def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    request.state.audit = True  # the audit middleware records writes that reached authentication
    settings: Settings = request.app.state.settings
    engine: Engine = request.app.state.engine
    offered = bearer.credentials if bearer is not None else header
    if offered is not None:
        expected: str = request.app.state.admin_token
        if hmac.compare_digest(offered.encode(), expected.encode()):
            return _found(request, ADMIN, "admin_token")
        with engine.begin() as conn:
            user = user_of_api_token(conn, offered, clock.utcnow())
        if user is None:
            raise _unauthorized("invalid API token (unknown, revoked, or its user is deactivated)")
        return _found(request, principal_of(user), "api_token")

    cookie = session_token(request)
    if cookie is None:
        raise _unauthorized(
            "missing API token: send 'Authorization: Bearer <token>' (make demo prints the token), "
            "or log in with POST /api/v1/auth/login"
        )
    with engine.begin() as conn:
        found = session_user(conn, cookie, clock.utcnow(), SessionPolicy.from_settings(settings))
    if found is None:
        raise _unauthorized("session expired or ended: log in again (POST /api/v1/auth/login)")
    user, csrf = found
    principal = _found(request, principal_of(user), "session")
    if request.method not in SAFE_METHODS:
        offered_csrf = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(offered_csrf.encode(), csrf.encode()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"CSRF token missing or wrong: send the csrf_token from the login answer in {CSRF_HEADER}",
            )
    return principal


def _found(request: Request, principal: Principal, via: str) -> Principal:
    request.state.principal = principal
    request.state.auth_via = via
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
