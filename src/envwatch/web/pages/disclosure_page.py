"""The disclosure settings page (/disclosure, 信息公开设置, SX-7): the settings in force, their history and
a form to change them, for the enterprise itself and the administrator (who picks ``?enterprise=ID``).

Same order as every page write: CSRF, the enterprise visible in the scope (404 exactly as for a missing
one), then what the role may change, decided by ``registry.disclosure`` (403); a refusal by the rules
(InvalidInput) comes back in the form with a translated lead-in.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import Forbidden, InvalidInput, NotFound
from envwatch.registry import disclosure
from envwatch.registry.disclosure_schema import STATEMENT_MAX
from envwatch.registry.service import get_enterprise, list_enterprises
from envwatch.web.api.common import engine_of
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=4000)]


def _enterprise_id(viewer: Viewer, asked: str | None) -> int | None:
    """The enterprise of the page: the one asked for, else the viewer's own (None: the admin picks)."""
    if asked:
        try:
            return int(asked)
        except ValueError:
            raise HTTPException(404, f"no enterprise with id {asked}") from None
    return viewer.principal.enterprise_id


def _visible(request: Request, scope: Scope, enterprise_id: int) -> dict[str, Any]:
    """The enterprise, or 404 with the message a missing one gets (also when out of scope)."""
    try:
        scope.require_enterprise(enterprise_id)
        with engine_of(request).connect() as conn:
            return get_enterprise(conn, enterprise_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


def _require_editor(scope: Scope) -> None:
    if scope.role not in disclosure.EDITORS:
        raise HTTPException(403, f"role {scope.role} may not change disclosure settings")


def _page(
    request: Request,
    viewer: Viewer,
    asked: str | None,
    problem: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    scope = data_scope(request, viewer)
    enterprise_id = _enterprise_id(viewer, asked)
    enterprise = None if enterprise_id is None else _visible(request, scope, enterprise_id)
    _require_editor(scope)
    current: dict[str, Any] | None = None
    history: list[dict[str, Any]] = []
    with engine_of(request).connect() as conn:
        choices = scope.filter(list_enterprises(conn), "id", scope.enterprise_ids)
        if enterprise is not None:
            current = disclosure.current_settings(conn, enterprise["id"])
            history = disclosure.settings_history(conn, enterprise["id"])
    public_url = None
    if enterprise is not None:
        public_url = str(request.base_url).rstrip("/") + "/public/" + enterprise["credit_code"]
    return render(
        request,
        "disclosure.html",
        status,
        viewer=viewer,
        enterprise=enterprise,
        choices=choices,
        current=current,
        history=history,
        form=values or current,
        can_publish=scope.role in disclosure.PUBLISHERS,
        public_url=public_url,
        problem=problem,
        saved=request.query_params.get("saved") == "1" and problem is None,
        statement_max=STATEMENT_MAX,
    )


@router.get("/disclosure", response_class=HTMLResponse)
def disclosure_settings_page(request: Request, viewer: CurrentViewer) -> Response:
    return _page(request, viewer, request.query_params.get("enterprise"))


@router.post("/disclosure", response_class=HTMLResponse)
def change_disclosure(
    request: Request,
    viewer: CurrentViewer,
    enterprise: Annotated[int, Form()],
    csrf_token: Annotated[str | None, Form()] = None,
    contact_name: Text = "",
    contact_phone: Text = "",
    statement: Annotated[str, Form(max_length=8000)] = "",
    published: Text = "",
    reason: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    _visible(request, scope, enterprise)  # 404 first: a refusal must not reveal the enterprise
    change = disclosure.DisclosureChange(
        contact_name=contact_name,
        contact_phone=contact_phone,
        statement=statement,
        # the enterprise's form has no such field: it keeps the state in force
        published={"1": True, "0": False}.get(published),
        reason=reason,
    )
    try:
        with engine_of(request).begin() as conn:
            disclosure.change_settings(
                conn, enterprise, change, role=scope.role, changed_by=viewer.principal.name, now=utcnow()
            )
    except Forbidden as exc:
        raise HTTPException(403, exc.message) from None
    except InvalidInput as exc:
        values = {
            "contact_name": contact_name,
            "contact_phone": contact_phone,
            "statement": statement,
            "published": change.published,
            "reason": reason,
        }
        return _page(request, viewer, str(enterprise), exc.message, values, 422)
    return RedirectResponse(f"/disclosure?enterprise={enterprise}&saved=1", status_code=303)
