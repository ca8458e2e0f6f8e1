"""The audit trail: one append-only ``audit_log`` row per write request, API and pages alike.

A row is written when the request reached authentication and was marked for the trail: ``authenticate``
marks every write under ``/api/``, the page session (``pages.session.viewer_or_none``) every page write
of a logged-in person, the login pages their attempts; a handler may also have a read that hands out
secrets recorded (``request.state.audit_read``, the registry export). A page write without a session is only redirected to the login page and
leaves no row. Whatever the outcome: a change done, a refusal (403, 409, 422, …), a bad token, a failed
login. Reads are not recorded (they would drown the writes). Rows say who, how (admin token, API token,
session, login), method, path, path parameters and status; never a request body, so never a password or
token. Handlers may add a small JSON ``detail`` via ``request.state.audit_detail``.

The row is written after the response is produced, in its own transaction: a failure to write it is
logged, not turned into an error for a change already committed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from envwatch.core import clock
from envwatch.web.accounts.schema import audit_log

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def audit_row(scope: Scope, state: dict[str, Any], status_code: int, now: datetime) -> dict[str, Any]:
    """The row for one request, from what authentication and the handler left in the request state."""
    principal = state.get("principal")
    params = scope.get("path_params") or {}
    target = ",".join(f"{k}={v}" for k, v in params.items())[:200] or None
    client = scope.get("client")
    # a failed login has no principal: record the username it tried (the password never)
    username = principal.name if principal is not None else state.get("audit_username")
    return {
        "at": now,
        "user_id": getattr(principal, "user_id", None),
        "username": username[:64] if username else None,
        "role": getattr(principal, "role", None),
        "via": state.get("auth_via"),
        "method": scope["method"],
        "path": scope["path"][:500],
        "status_code": status_code,
        "target": target,
        "ip": client[0][:64] if client else None,
        "detail": state.get("audit_detail"),
    }


def write_audit(engine: Engine, row: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(audit_log).values(**row))


class AuditMiddleware:
    """ASGI middleware (not BaseHTTPMiddleware: it must see the final status without buffering bodies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the same dict backs request.state in the endpoint and its dependencies
        state: dict[str, Any] = scope.setdefault("state", {})
        status_code = 500  # if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # reads are marked too (authentication marks every API request) but recorded only when a
            # handler says they hand out something sensitive (``audit_read``: the registry export)
            if (state.get("audit") and scope["method"] in UNSAFE_METHODS) or state.get("audit_read"):
                engine: Engine = scope["app"].state.engine
                row = audit_row(scope, state, status_code, clock.utcnow())
                try:
                    await run_in_threadpool(write_audit, engine, row)
                except Exception:  # the change is committed: losing its audit row must be loud, not fatal
                    log.exception("could not write the audit row %r", row)
