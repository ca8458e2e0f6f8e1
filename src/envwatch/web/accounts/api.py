"""Accounts API: log in and out (``/api/v1/auth``), manage users (admin), own password and API tokens.

A browser logs in with ``POST /api/v1/auth/login`` and gets an HttpOnly session cookie plus a CSRF token
to send in ``X-CSRF-Token`` on every write. Scripts use a personal API token
(``POST /api/v1/users/me/tokens``, shown once) as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from envwatch.core import clock
from envwatch.web.accounts import passwords, store, tokens
from envwatch.web.accounts.login import (
    WRONG_CREDENTIALS,
    LoginFailed,
    LoginLocked,
    attempt_login,
    login_username,
    set_session_cookie,
)
from envwatch.web.accounts.sessions import end_session
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.auth import CurrentPrincipal, Principal, principal_of, session_token

auth_router = APIRouter(prefix="/api/v1/auth", tags=["accounts"])
users_router = APIRouter(prefix="/api/v1/users", tags=["accounts"])

Role = Literal["admin", "regulator", "enterprise", "operator", "field_staff", "agency", "auditor"]


def _admin(who: CurrentPrincipal) -> Principal:
    if who.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin may manage users")
    return who


AdminPrincipal = Annotated[Principal, Depends(_admin)]


def _account(request: Request, who: Principal, *, interactive: bool = False) -> int:
    """The caller's user id; ``interactive``: only from a password login, so that a leaked API token
    cannot mint further tokens or change the password (and outlive its own revocation)."""
    if who.user_id is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "the admin token is not an account: create a user (POST /api/v1/users) and log in as it",
        )
    if interactive and request.state.auth_via != "session":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "log in with your password to do this (not a token)")
    return who.user_id


def _user_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "password_hash"}
    for key in ("created_at", "updated_at"):
        out[key] = clock.to_china(row[key]).isoformat()
    return out


def _token_out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (clock.to_china(v).isoformat() if k.endswith("_at") and v else v) for k, v in row.items()}


# --- log in / out ------------------------------------------------------------------------------
class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


@auth_router.post("/login", summary="Log in: sets the session cookie, returns the CSRF token for writes")
def login(request: Request, response: Response, body: LoginIn) -> dict[str, Any]:
    request.state.audit = True
    request.state.auth_via = "login"
    request.state.audit_username = login_username(body.username)
    client = request.client
    try:
        done = attempt_login(
            engine_of(request),
            settings_of(request),
            body.username,
            body.password,
            ip=client.host if client else "",
            user_agent=request.headers.get("user-agent", ""),
        )
    except LoginLocked as exc:
        request.state.audit_detail = {"event": "login_refused", "reason": "locked"}
        raise HTTPException(
            status.HTTP_423_LOCKED, str(exc), headers={"Retry-After": str(exc.seconds)}
        ) from None
    except LoginFailed:
        request.state.audit_detail = {"event": "login_failed"}
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, WRONG_CREDENTIALS) from None
    request.state.principal = principal_of(done.user)
    request.state.audit_detail = {"event": "login"}
    set_session_cookie(response, settings_of(request), done.session.token)
    return {
        "user": _user_out(done.user),
        "csrf_token": done.session.csrf_token,
        "expires_at": clock.to_china(done.session.expires_at).isoformat(),
    }


@auth_router.post("/logout", status_code=204, summary="End this session (deletes the cookie)")
def logout(request: Request, response: Response, _who: CurrentPrincipal) -> None:
    cookie = session_token(request)
    if cookie is not None:
        with engine_of(request).begin() as conn:
            end_session(conn, cookie)
    response.delete_cookie(settings_of(request).session_cookie_name, path="/")


@auth_router.get("/me", summary="Who am I: user, role, scope, and how I authenticated")
def me(request: Request, who: CurrentPrincipal) -> dict[str, Any]:
    out: dict[str, Any] = {"username": who.name, "role": who.role, "via": request.state.auth_via}
    if who.user_id is not None:
        with engine_of(request).connect() as conn:
            out["user"] = _user_out(store.get_user(conn, who.user_id))
    return out


# --- users (admin) -----------------------------------------------------------------------------
class ScopeIn(BaseModel):
    region_code: str | None = Field(default=None, description="regulator: 2, 4 or 6 digits (GB/T 2260)")
    enterprise_id: int | None = Field(default=None, description="enterprise: its registry id")
    operator_id: int | None = Field(default=None, description="operator, field_staff, auditor")
    agency_id: int | None = Field(default=None, description="agency")
    period_from: date | None = Field(default=None, description="auditor: first day")
    period_to: date | None = Field(default=None, description="auditor: last day (inclusive)")


class UserIn(ScopeIn):
    username: str
    password: str = Field(max_length=passwords.MAX_LENGTH)
    role: Role
    display_name: str = Field(default="", max_length=200)


class UserPatch(ScopeIn):
    role: Role | None = None
    display_name: str | None = Field(default=None, max_length=200)
    active: bool | None = Field(default=None, description="false deactivates: no login, no tokens")
    password: str | None = Field(default=None, max_length=passwords.MAX_LENGTH, description="reset")


@users_router.get("", summary="All users (admin)")
def list_users(request: Request, _who: AdminPrincipal) -> list[dict[str, Any]]:
    with engine_of(request).connect() as conn:
        return [_user_out(u) for u in store.list_users(conn)]


@users_router.post("", status_code=201, summary="Create a user with a role and its scope (admin)")
def create_user(request: Request, body: UserIn, _who: AdminPrincipal) -> dict[str, Any]:
    fields = body.model_dump(exclude={"username", "password"})
    with engine_of(request).begin() as conn:
        user = store.create_user(
            conn,
            body.username,
            body.password,
            fields,
            clock.utcnow(),
            min_password_length=settings_of(request).password_min_length,
        )
    request.state.audit_detail = {"username": user["username"], "role": user["role"]}
    return _user_out(user)


# the /me routes come before /{user_id} so that "me" is never read as an id
class PasswordChangeIn(BaseModel):
    old_password: str = Field(max_length=passwords.MAX_LENGTH)
    new_password: str = Field(max_length=passwords.MAX_LENGTH)


@users_router.post("/me/password", status_code=204, summary="Change my password (other sessions end)")
def change_my_password(request: Request, body: PasswordChangeIn, who: CurrentPrincipal) -> None:
    user_id = _account(request, who, interactive=True)
    engine = engine_of(request)
    with engine.connect() as conn:
        user = store.user_for_login(conn, who.name)
    if user is None or not passwords.verify_password(user["password_hash"], body.old_password)[0]:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the old password is wrong")
    with engine.begin() as conn:
        store.update_user(
            conn,
            user_id,
            {},
            clock.utcnow(),
            min_password_length=settings_of(request).password_min_length,
            password=body.new_password,
            keep_session=session_token(request),
        )


class TokenIn(BaseModel):
    name: str = Field(description="what uses it, e.g. 'nightly export'", max_length=100)


@users_router.get("/me/tokens", summary="My API tokens (never the tokens themselves)")
def list_my_tokens(request: Request, who: CurrentPrincipal) -> list[dict[str, Any]]:
    user_id = _account(request, who)
    with engine_of(request).connect() as conn:
        return [_token_out(t) for t in tokens.list_api_tokens(conn, user_id)]


@users_router.post(
    "/me/tokens", status_code=201, summary="New API token for scripts: shown only in this answer"
)
def create_my_token(request: Request, body: TokenIn, who: CurrentPrincipal) -> dict[str, Any]:
    user_id = _account(request, who, interactive=True)
    with engine_of(request).begin() as conn:
        row, token = tokens.create_api_token(conn, user_id, body.name, clock.utcnow())
    request.state.audit_detail = {"token_id": row["id"], "name": row["name"]}
    return {**_token_out(row), "token": token}


@users_router.delete("/me/tokens/{token_id}", summary="Revoke one of my API tokens")
def revoke_my_token(request: Request, token_id: int, who: CurrentPrincipal) -> dict[str, Any]:
    user_id = _account(request, who)
    with engine_of(request).begin() as conn:
        return _token_out(tokens.revoke_api_token(conn, user_id, token_id, clock.utcnow()))


@users_router.get("/{user_id}", summary="One user (admin)")
def get_user(request: Request, user_id: int, _who: AdminPrincipal) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        return _user_out(store.get_user(conn, user_id))


@users_router.patch(
    "/{user_id}", summary="Change role, scope, name; deactivate (active=false); reset the password (admin)"
)
def patch_user(request: Request, user_id: int, body: UserPatch, _who: AdminPrincipal) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    password = changes.pop("password", None)
    for key in ("role", "display_name", "active"):
        if key in changes and changes[key] is None:
            raise HTTPException(422, f"{key} cannot be null")
    with engine_of(request).begin() as conn:
        user = store.update_user(
            conn,
            user_id,
            changes,
            clock.utcnow(),
            min_password_length=settings_of(request).password_min_length,
            password=password,
        )
    # which fields changed, never their secret values
    request.state.audit_detail = {"changed": sorted(changes) + (["password"] if password else [])}
    return _user_out(user)
