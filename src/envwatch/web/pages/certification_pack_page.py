"""Page: the certification evidence pack (认证证据包, CS-5/6), ``/compliance/pack?operator_id=&from=&to=``.

Choose the operator (fixed for an operator and an auditor) and the period (default: the auditor's period,
else the last complete quarter); the page shows the KPIs with their requirement, target, value and whether
met, the files the pack will hold with their row counts and the SHA-256 a pack made now would have (and the
earlier pack with the same bytes, if any), a download link (the API's zip, which records the make) and the
history of makes. Who: as the API (``web.api.certification_pack``); nothing here writes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput
from envwatch.registry.schema import operators
from envwatch.reports.certification_pack import pack_history, write_pack
from envwatch.web.api import certification_pack as api
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, data_scope
from envwatch.web.scope import Scope, china_today

router = APIRouter(include_in_schema=False)

KPI_TITLES = {
    "effective_rate": N_("Effective transmission rate"),
    "respond_1h": N_("Requests responded to within the limit (1 h)"),
    "on_site_4h_8h": N_("Requests reached on site within the limit (4 h urban / 8 h suburban)"),
    "satisfaction": N_("Satisfaction of the service surveys"),
    "drills": N_("Emergency drills (at least one a year)"),
    "certificates": N_("Field staff with a certificate valid on the last day"),
    "trainings": N_("Quarters with a quarterly re-training held"),
    "daily_audit": N_("Days of data audited and signed off"),
    "inspections": N_("Inspection windows with an inspection"),
    "findings": N_("Compliance findings touching the period still open"),
}


def _operators(request: Request, scope: Scope) -> list[dict[str, Any]]:
    query = select(operators.c.id, operators.c.name).order_by(operators.c.name, operators.c.id)
    if scope.operator_ids is not None:
        query = query.where(operators.c.id.in_(sorted(scope.operator_ids)))
    with engine_of(request).connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a day such as 2026-09-30") from None


@router.get("/compliance/pack", response_class=HTMLResponse)
def pack_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = data_scope(request, viewer)
    if scope.role not in api.READERS:
        raise HTTPException(403, f"role {scope.role} may not read certification evidence packs")
    query = request.query_params
    fixed = scope.principal.operator_id if scope.role in ("operator", "auditor") else None
    choices = _operators(request, scope)
    operator_id = fixed
    if operator_id is None and query.get("operator_id", "").isdigit():
        operator_id = int(query["operator_id"])
    default = api.default_period(scope, china_today())
    error = None
    body: dict[str, Any] | None = None
    try:
        first, last = _day(query.get("from")) or default[0], _day(query.get("to")) or default[1]
    except InvalidInput as exc:
        (first, last), error = default, exc.message
    if operator_id is not None and error is None:
        first, last = api.pack_period(scope, operator_id, first, last)
        try:
            result = write_pack(
                engine_of(request), settings_of(request), operator_id, first, last, now=utcnow()
            )
        except InvalidInput as exc:
            error = exc.message
        else:
            with engine_of(request).connect() as conn:
                history = pack_history(conn, operator_id, within=scope.period)
            same = next(
                (
                    h["id"]
                    for h in history
                    if (h["first_day"], h["last_day"], h["sha256"]) == (first, last, result.sha256)
                ),
                None,
            )
            body = {
                "kpis": [k.as_dict() for k in result.kpis.kpis],
                "files": [f for f in result.files if f.path != "manifest.json"],
                "sha256": result.sha256,
                "same_as": same,
                "history": history,
                "download": f"/api/v1/operators/{operator_id}/certification-pack?from={first.isoformat()}&to={last.isoformat()}",
            }
    return render(
        request,
        "compliance_pack.html",
        200 if error is None else 422,
        viewer=viewer,
        tab="pack",
        choices=choices,
        fixed=fixed,
        operator_id=operator_id,
        first=first.isoformat(),
        last=last.isoformat(),
        error=error,
        body=body,
        kpi_titles=KPI_TITLES,
    )
