"""Authentication: one dependency every API endpoint goes through.

For now there is one principal, the admin, identified by a token from settings or generated once into
``<data_dir>/admin_token``. Accounts, roles and scopes (issue: web application) replace ``authenticate``
without touching the routers: they already depend on ``Principal``.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from envwatch.core.settings import Settings

ROLES = ("admin", "regulator", "enterprise", "operator", "field_staff", "agency", "auditor")


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


def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    offered = bearer.credentials if bearer is not None else header
    expected: str = request.app.state.admin_token
    if offered is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API token: send 'Authorization: Bearer <token>' (make demo prints the token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid API token", headers={"WWW-Authenticate": "Bearer"}
        )
    return Principal(name="admin", role="admin")


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
