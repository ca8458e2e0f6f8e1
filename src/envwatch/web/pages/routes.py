"""The pages: login, logout, language switch, home (the role's start page) and the device list."""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from envwatch.ingest.queries import read_devices
from envwatch.registry.schema import enterprises, operators
from envwatch.web.accounts.login import (
    LoginFailed,
    LoginLocked,
    attempt_login,
    login_username,
    set_session_cookie,
)
from envwatch.web.accounts.sessions import end_session
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.auth import session_token
from envwatch.web.pages import i18n
from envwatch.web.pages.render import render
from envwatch.web.pages.session import (
    CurrentViewer,
    Viewer,
    check_csrf,
    data_scope,
    safe_next,
    scope_of,
    viewer_or_none,
)
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

# Where "/" sends each role (others: /home).
START_PAGE: dict[str, str] = {
    "regulator": "/region",
    "enterprise": "/outlets",
    "operator": "/workbench",
    "field_staff": "/workbench",
}
DEFAULT_START = "/home"
LANG_COOKIE_AGE = 365 * 24 * 3600


def _see_other(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


# --- login / logout / language ---------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    if viewer_or_none(request) is not None:
        return _see_other(safe_next(next))
    return render(request, "login.html", next=safe_next(next), username="", error=None)


def _cross_site(request: Request) -> bool:
    """True when the browser says the form was posted from another site (login CSRF: being logged in
    as someone else). A missing Origin (old browsers, scripts) is let through: SameSite=Lax and the
    lockout still apply."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = safe_next(next)
    if _cross_site(request):
        raise HTTPException(403, "cross-site login refused")
    # the same audit trail as POST /api/v1/auth/login (web.accounts.audit records /login too)
    request.state.audit = True
    request.state.auth_via = "login"
    request.state.audit_username = login_username(username)
    if not username.strip() or not password:
        return render(request, "login.html", 401, next=target, username=username, error="wrong")
    client = request.client
    try:
        done = attempt_login(
            engine_of(request),
            settings_of(request),
            username,
            password,
            ip=client.host if client else "",
            user_agent=request.headers.get("user-agent", ""),
        )
    except LoginLocked as exc:
        request.state.audit_detail = {"event": "login_refused", "reason": "locked"}
        minutes = max(1, math.ceil(exc.seconds / 60))
        return render(
            request, "login.html", 423, next=target, username=username, error="locked", minutes=minutes
        )
    except LoginFailed:
        request.state.audit_detail = {"event": "login_failed"}
        return render(request, "login.html", 401, next=target, username=username, error="wrong")
    request.state.audit_detail = {"event": "login"}
    response = _see_other(target)
    set_session_cookie(response, settings_of(request), done.session.token)
    return response


@router.post("/logout")
def logout(
    request: Request, viewer: CurrentViewer, csrf_token: Annotated[str | None, Form()] = None
) -> Response:
    request.state.audit = True
    check_csrf(request, viewer, csrf_token)
    cookie = session_token(request)
    if cookie is not None:
        with engine_of(request).begin() as conn:
            end_session(conn, cookie)
    response = _see_other("/login")
    response.delete_cookie(settings_of(request).session_cookie_name, path="/")
    return response


@router.get("/lang/{locale}")
def switch_language(locale: str, next: str = "/") -> Response:
    """Sets the ``lang`` cookie and goes back. A GET (a plain link on every page): it changes a display
    preference of this browser only, nothing on the server."""
    if locale not in i18n.LOCALES:
        raise HTTPException(404, f"no language {locale!r}")
    response = _see_other(safe_next(next))
    response.set_cookie(i18n.LANG_COOKIE, locale, max_age=LANG_COOKIE_AGE, path="/", samesite="lax")
    return response


# --- home ------------------------------------------------------------------------------------------
@router.get("/")
def root(viewer: CurrentViewer) -> Response:
    return _see_other(START_PAGE.get(viewer.principal.role, DEFAULT_START))


def _visible_devices(request: Request, scope: Scope) -> list[dict[str, Any]]:
    """The devices the scope lets the viewer see (the same filter as GET /api/v1/devices)."""
    rows = scope.filter(read_devices(engine_of(request)), "id", scope.device_ids)
    for row in rows:
        row["online"] = bool(row["online"])
    return rows


def _scope_summary(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the viewer's account is tied to: region, enterprise, operator, period (names, not ids)."""
    p = viewer.principal
    summary: dict[str, Any] = {"region": p.region_code, "enterprise": None, "operator": None}
    with engine_of(request).connect() as conn:
        if p.enterprise_id is not None:
            summary["enterprise"] = conn.execute(
                select(enterprises.c.name).where(enterprises.c.id == p.enterprise_id)
            ).scalar()
        if p.operator_id is not None:
            summary["operator"] = conn.execute(
                select(operators.c.name).where(operators.c.id == p.operator_id)
            ).scalar()
    summary["period"] = p.period
    return summary


@router.get("/home", response_class=HTMLResponse)
def home(request: Request, viewer: CurrentViewer) -> Response:
    scope = scope_of(request, viewer)
    counts = None
    if scope is not None:
        devices = _visible_devices(request, scope)
        online = sum(1 for d in devices if d["online"])
        counts = {
            "enterprises": None if scope.enterprise_ids is None else len(scope.enterprise_ids),
            "outlets": None if scope.outlet_ids is None else len(scope.outlet_ids),
            "devices": len(devices),
            "online": online,
            "offline": len(devices) - online,
        }
    return render(
        request,
        "home.html",
        viewer=viewer,
        summary=_scope_summary(request, viewer),
        everything=scope is not None and scope.everything,
        counts=counts,
    )


# --- devices ---------------------------------------------------------------------------------------
@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, viewer: CurrentViewer) -> Response:
    devices = _visible_devices(request, data_scope(request, viewer))
    return render(request, "devices.html", viewer=viewer, devices=devices)


@router.get("/devices/rows", response_class=HTMLResponse)
def devices_rows(request: Request, viewer: CurrentViewer) -> Response:
    """The table body alone, for the htmx refresh of /devices."""
    devices = _visible_devices(request, data_scope(request, viewer))
    return render(request, "_device_rows.html", viewer=viewer, devices=devices)
