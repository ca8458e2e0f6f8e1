"""The rates page (/rates): effective transmission rates (有效传输率) of the visible devices, and the same
table as an Excel workbook (/rates.xlsx).

Both call ``monitoring.rates.compute_rates`` with the viewer's devices (``RateQuery.device_ids``), as
``GET /api/v1/rates`` does; the workbook is ``reports.rates_xlsx.write_rates_xlsx``, as in the CLI.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput
from envwatch.monitoring.rates import GROUPS, RateQuery, compute_rates
from envwatch.reports.rates_xlsx import write_rates_xlsx
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, data_scope
from envwatch.web.scope import Scope, china_today

router = APIRouter(include_in_schema=False)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

GROUP_LABELS = {
    "factor": N_("factor"),
    "device": N_("device"),
    "outlet": N_("outlet"),
    "enterprise": N_("enterprise"),
    "region": N_("region"),
    "operator": N_("operator"),
}
# a translated lead-in for each threshold the service flags; its own text (numbers) follows
FLAG_LABELS = {
    "SX-30.7": N_("Quarterly effective transmission rate below the threshold"),
    "SX-30.6": N_("Monthly effective transmission rate below the threshold with repeated faults"),
    "CS-4.3.2.1": N_("Effective transmission rate below the operator's line"),
}


@dataclass(frozen=True)
class _Form:
    first: date
    last: date
    group: str


def _default_days(scope: Scope) -> tuple[date, date]:
    """This China month so far; an auditor's period when today lies outside it."""
    today = china_today()
    first, last = today.replace(day=1), today
    if scope.period is not None and not (scope.period[0] <= last <= scope.period[1]):
        return scope.period
    return first, last


def _parse(scope: Scope, from_: str | None, to: str | None, group: str | None) -> _Form:
    default_first, default_last = _default_days(scope)
    try:
        first = date.fromisoformat(from_) if from_ else default_first
        last = date.fromisoformat(to) if to else default_last
    except ValueError as exc:
        raise InvalidInput(f"dates are YYYY-MM-DD: {exc}") from None
    return _Form(first, last, group or "device")


def _rows(request: Request, scope: Scope, form: _Form) -> list[dict[str, Any]]:
    scope.require_days(form.first, form.last)
    query = RateQuery(form.first, form.last, group=form.group, device_ids=scope.device_ids)
    return compute_rates(engine_of(request), settings_of(request), query, utcnow())


@router.get("/rates", response_class=HTMLResponse)
def rates_page(
    request: Request,
    viewer: CurrentViewer,
    to: str | None = None,
    group: str | None = None,
) -> Response:
    scope = data_scope(request, viewer)
    # the parameter is "from", as in the API (a Python keyword: read from the URL itself)
    from_ = request.query_params.get("from")
    error: str | None = None
    rows: list[dict[str, Any]] = []
    try:
        form = _parse(scope, from_, to, group)
    except InvalidInput as exc:
        form, error = _parse(scope, None, None, group if group in GROUPS else None), exc.message
    if error is None:
        try:
            rows = _rows(request, scope, form)
        except InvalidInput as exc:
            error = exc.message
    status = 200 if error is None else 422
    params = {"from": form.first.isoformat(), "to": form.last.isoformat(), "group": form.group}
    return render(
        request,
        "rates.html",
        status,
        viewer=viewer,
        form=form,
        groups=[(g, GROUP_LABELS[g]) for g in GROUPS],
        rows=rows,
        error=error,
        flag_labels=FLAG_LABELS,
        xlsx_url="/rates.xlsx?" + urlencode(params),
    )


@router.get("/rates.xlsx")
def rates_xlsx(
    request: Request, viewer: CurrentViewer, to: str | None = None, group: str | None = None
) -> Response:
    """The page's table as a workbook: same scope, same rows, written by the CLI's writer."""
    scope = data_scope(request, viewer)
    try:
        form = _parse(scope, request.query_params.get("from"), to, group)
        rows = _rows(request, scope, form)
    except InvalidInput as exc:
        raise HTTPException(422, exc.message) from None
    title = f"有效传输率 effective transmission rates {form.first.isoformat()}..{form.last.isoformat()}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rates.xlsx"
        write_rates_xlsx(path, rows, title=title)
        content = path.read_bytes()
    name = f"rates-{form.first.isoformat()}-{form.last.isoformat()}-{form.group}.xlsx"
    return Response(
        content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
