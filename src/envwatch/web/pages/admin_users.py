"""User administration (用户管理): /admin/users, admin only.

Lists the users (username, role, display name, scope, disabled or locked by failed logins, last login)
and creates, edits, resets the password of, disables and enables them, through ``web.accounts.store``
exactly as ``/api/v1/users`` does: ``check_scope`` decides which scope fields a role needs, the password
policy (``Settings.password_min_length``) is the store's. Password hashes and API tokens are never read
for these pages (``store.list_users`` leaves the hash out). Users are never deleted (the audit trail
points at them): "disable" sets ``active`` false, which also ends their sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, func, select

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.web.accounts import store
from envwatch.web.accounts.lockout import LockoutPolicy, locked_for
from envwatch.web.accounts.schema import audit_log
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.auth import ROLES
from envwatch.web.pages.admin_common import (
    AdminViewer,
    FormFields,
    Problem,
    admin_viewer,
    back_to_list,
    checked_form,
    kept_values,
    optional_date,
    optional_int,
    text_of,
)
from envwatch.web.pages.admin_sections import Input
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.paging import search_page
from envwatch.web.pages.render import ROLE_LABELS, render
from envwatch.web.pages.session import Viewer

router = APIRouter(include_in_schema=False, dependencies=[Depends(admin_viewer)])

BASE = "/admin/users"
# the logins of the audit trail (page and API): the only place a login time is stored
LOGIN_PATHS = ("/login", "/api/v1/auth/login")
SCOPE_INPUTS = (
    Input("region_code", N_("Region code (regulator)"), hint=N_("2, 4 or 6 digits: province, city, county")),
    Input(
        "enterprise_id",
        N_("Enterprise (enterprise user)"),
        "select",
        options="enterprises",
        empty=N_("none"),
    ),
    Input(
        "operator_id",
        N_("Operator (operator, field staff, auditor)"),
        "select",
        options="operators",
        empty=N_("none"),
    ),
    Input("agency_id", N_("Testing agency id (agency)")),
    Input("period_from", N_("Period from (auditor)"), "date"),
    Input("period_to", N_("Period to, inclusive (auditor)"), "date"),
)
PROFILE_INPUTS = (
    Input("display_name", N_("Display name")),
    Input("role", N_("Role"), "select", required=True, options="roles"),
)
PASSWORD_INPUTS = (
    Input("password", N_("Password"), "secret", required=True),
    Input("password2", N_("Password again"), "secret", required=True),
)
KEPT_OUT = frozenset({"csrf_token", "password", "password2"})


def _scope_values(form: Mapping[str, str]) -> dict[str, Any]:
    """The scope fields of a form, typed for ``check_scope``; an empty field is "none"."""
    return {
        "region_code": form.get("region_code", "").strip() or None,
        "enterprise_id": optional_int(form, "enterprise_id"),
        "operator_id": optional_int(form, "operator_id"),
        "agency_id": optional_int(form, "agency_id"),
        "period_from": optional_date(form, "period_from"),
        "period_to": optional_date(form, "period_to"),
    }


def _profile(form: Mapping[str, str]) -> dict[str, Any]:
    """Role, display name and every scope field: a field the new role does not take is cleared."""
    return {
        "role": form.get("role", "").strip(),
        "display_name": form.get("display_name", "").strip(),
        **_scope_values(form),
    }


def _same_passwords(form: Mapping[str, str]) -> str:
    password = form.get("password", "")
    if password != form.get("password2", ""):
        raise _Mismatch
    return password


class _Mismatch(Exception):
    """The two password fields differ (said by the page itself: a translated sentence)."""


def last_logins(conn: Connection) -> dict[str, datetime]:
    """Each username's latest successful login, from the audit trail (a page login records the
    username it logged in, not always the user id; a refused one has a 401/423 status)."""
    query = (
        select(audit_log.c.username, func.max(audit_log.c.at))
        .where(
            audit_log.c.path.in_(LOGIN_PATHS),
            audit_log.c.username.is_not(None),
            audit_log.c.status_code < 400,
        )
        .group_by(audit_log.c.username)
    )
    return {str(username): at for username, at in conn.execute(query)}


def _choices(conn: Connection) -> dict[str, list[tuple[str, str]]]:
    return {
        "roles": [(r, ROLE_LABELS[r]) for r in ROLES],
        "enterprises": [(str(e["id"]), e["name"]) for e in svc.list_enterprises(conn)],
        "operators": [(str(o["id"]), o["name"]) for o in ops.list_operators(conn)],
    }


def _rows(request: Request, conn: Connection, names: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    now = utcnow()
    policy = LockoutPolicy.from_settings(settings_of(request))
    logins = last_logins(conn)
    rows = []
    for user in store.list_users(conn):
        locked = locked_for(conn, user["username"], now, policy)
        scope = [
            names["enterprises"].get(str(user["enterprise_id"]), "") if user["enterprise_id"] else "",
            names["operators"].get(str(user["operator_id"]), "") if user["operator_id"] else "",
            user["region_code"] or "",
            f"#{user['agency_id']}" if user["agency_id"] is not None else "",
            f"{user['period_from']} – {user['period_to']}" if user["period_from"] else "",
        ]
        rows.append(
            {
                **user,
                "scope": " · ".join(s for s in scope if s),
                "locked_until": now + locked if locked is not None else None,
                "last_login": logins.get(user["username"]),
                "form": {k: text_of(v) for k, v in user.items()},
            }
        )
    return rows


def users_page(request: Request, viewer: Viewer, problem: Problem | None = None) -> Response:
    query = request.query_params
    with engine_of(request).connect() as conn:
        options = _choices(conn)
        names = {key: dict(options[key]) for key in ("enterprises", "operators")}
        rows = _rows(request, conn, names)

    def searchable(row: dict[str, Any]) -> str:
        return " ".join((row["username"], row["display_name"], row["role"], row["scope"]))

    paged = search_page(rows, searchable, query.get("q", ""), query.get("page"))
    if problem is not None:
        problem.place(str(r["id"]) for r in paged.rows)
    return render(
        request,
        "admin_users.html",
        problem.status if problem else 200,
        viewer=viewer,
        paged=paged,
        choices=options,
        profile_inputs=PROFILE_INPUTS,
        scope_inputs=SCOPE_INPUTS,
        password_inputs=PASSWORD_INPUTS,
        min_length=settings_of(request).password_min_length,
        problem=problem,
        saved=query.get("saved", ""),
    )


def _kept(form: Mapping[str, str]) -> dict[str, str]:
    return kept_values(form, KEPT_OUT)


def _refused(
    request: Request, viewer: Viewer, where: str, lead: str, exc: Exception, form: Mapping[str, str]
) -> Response:
    if isinstance(exc, _Mismatch):
        problem = Problem(where, N_("The two passwords differ: nothing was changed."), values=_kept(form))
    else:
        assert isinstance(exc, InvalidInput | Conflict | NotFound)
        problem = Problem.of(where, lead, exc, _kept(form))
    return users_page(request, viewer, problem)


@router.get(BASE, response_class=HTMLResponse)
def list_users(request: Request, viewer: AdminViewer) -> Response:
    return users_page(request, viewer)


@router.post(BASE, response_class=HTMLResponse)
def create_user(request: Request, viewer: AdminViewer, form: FormFields) -> Response:
    checked_form(request, viewer, form)
    try:
        password = _same_passwords(form)
        with engine_of(request).begin() as conn:
            user = store.create_user(
                conn,
                form.get("username", ""),
                password,
                _profile(form),
                utcnow(),
                min_password_length=settings_of(request).password_min_length,
            )
    except (InvalidInput, Conflict, NotFound, _Mismatch) as exc:
        return _refused(request, viewer, "create", N_("The user was not created:"), exc, form)
    request.state.audit_detail = {"username": user["username"], "role": user["role"]}
    return back_to_list(BASE, form, user["id"])


def _own_account_kept(viewer: Viewer, user_id: int, changes: Mapping[str, Any]) -> bool:
    """False when an admin would lock themselves out (role taken away, account disabled): the page
    refuses that, so that some admin always remains able to log in and repair it."""
    if viewer.principal.user_id != user_id:
        return True
    return changes.get("role", "admin") == "admin" and changes.get("active", True) is not False


def _update(
    request: Request,
    viewer: Viewer,
    user_id: int,
    form: Mapping[str, str],
    changes: dict[str, Any],
    lead: str,
    *,
    password: str | None = None,
) -> Response:
    if not _own_account_kept(viewer, user_id, changes):
        lead = N_("You cannot take away your own administrator role or disable your own account.")
        return users_page(request, viewer, Problem(str(user_id), lead, values=_kept(form)))
    try:
        with engine_of(request).begin() as conn:
            store.update_user(
                conn,
                user_id,
                changes,
                utcnow(),
                min_password_length=settings_of(request).password_min_length,
                password=password,
            )
    except (InvalidInput, Conflict, NotFound) as exc:
        return _refused(request, viewer, str(user_id), lead, exc, form)
    # which fields changed, never a password
    request.state.audit_detail = {"changed": sorted(changes) + (["password"] if password else [])}
    return back_to_list(BASE, form, user_id)


@router.post(BASE + "/{user_id}", response_class=HTMLResponse)
def edit_user(request: Request, viewer: AdminViewer, user_id: int, form: FormFields) -> Response:
    checked_form(request, viewer, form)
    try:
        changes = _profile(form)
    except InvalidInput as exc:
        return _refused(request, viewer, str(user_id), N_("The user was not changed:"), exc, form)
    return _update(request, viewer, user_id, form, changes, N_("The user was not changed:"))


@router.post(BASE + "/{user_id}/password", response_class=HTMLResponse)
def reset_password(request: Request, viewer: AdminViewer, user_id: int, form: FormFields) -> Response:
    checked_form(request, viewer, form)
    lead = N_("The password was not reset:")
    try:
        password = _same_passwords(form)
    except _Mismatch as exc:
        return _refused(request, viewer, str(user_id), lead, exc, form)
    return _update(request, viewer, user_id, form, {}, lead, password=password)


@router.post(BASE + "/{user_id}/active", response_class=HTMLResponse)
def set_active(request: Request, viewer: AdminViewer, user_id: int, form: FormFields) -> Response:
    checked_form(request, viewer, form)
    active = form.get("active") == "1"
    lead = N_("The account was not changed:")
    return _update(request, viewer, user_id, form, {"active": active}, lead)
