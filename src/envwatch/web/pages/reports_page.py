"""Reports and exports (报表): what the viewer can download, each with its small form.

- ``/reports``: the monthly outlet report (排放口月报) of a visible outlet, grouped by enterprise and
  filtered with ``?q=``; the effective transmission rates workbook (有效传输率, the rates page's own
  ``/rates.xlsx``); for whoever may manage the registry (admin), the registry export
  (``/admin/registry/export``, the admin pages' route);
- ``/reports/outlet-month.xlsx?outlet=ID&month=YYYY-MM``: the monthly outlet report, gathered by
  ``reports.outlet_month`` and written by ``reports.outlet_month_xlsx``.

Scope (``session.data_scope``, as every data page): an outlet out of scope is 404 like a missing one; a
month ahead of the China calendar or unreadable is 422, shown in the form; an auditor gets the part of the
month inside its period, and 403 for a month wholly outside it (``Scope.require_days``).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from envwatch.core.clock import utcnow
from envwatch.monitoring.rates import GROUPS
from envwatch.registry import service as registry
from envwatch.reports.outlet_month import gather_outlet_month, month_days
from envwatch.reports.outlet_month_xlsx import write_outlet_month
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.outlet_view import visible_enterprises, visible_outlet
from envwatch.web.pages.rates import GROUP_LABELS, XLSX
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, data_scope
from envwatch.web.scope import Scope, china_today

router = APIRouter(include_in_schema=False)

MONTHS_OFFERED = 36  # the month picker's reach back; older months can still be asked for in the URL
REGISTRY_EXPORT = "/admin/registry/export"  # the admin pages' route (pages/admin_import.py)
_MONTH = re.compile(r"\d{4}-\d{2}")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class FormProblem(Exception):
    """A choice the report cannot be made from (422): a msgid translated when shown, and its values."""

    msgid: str
    params: dict[str, str] = field(default_factory=dict)


def _parse_month(text: str | None) -> date:
    if not text or not _MONTH.fullmatch(text):
        raise FormProblem(N_("The month %(month)s is not a month such as 2026-10."), {"month": text or "—"})
    try:
        return date.fromisoformat(text + "-01")
    except ValueError:
        raise FormProblem(
            N_("The month %(month)s is not a month such as 2026-10."), {"month": text}
        ) from None


def _parse_outlet(text: str | None) -> int:
    if not text:
        raise FormProblem(N_("Pick an outlet."))
    if not text.isdigit():
        raise FormProblem(N_("The outlet %(outlet)s is not an outlet number."), {"outlet": text})
    return int(text)


def _check_not_future(month: date, today: date) -> None:
    if month > today.replace(day=1):
        raise FormProblem(
            N_("The month %(month)s has not begun yet (China calendar): pick this month or an earlier one."),
            {"month": f"{month:%Y-%m}"},
        )


def _covered_days(scope: Scope, month: date) -> tuple[date, date]:
    """The month's days, cut to an auditor's period; 403 when none of them lies inside it."""
    first, last = month_days(month)
    if scope.period is None:
        return first, last
    lo, hi = max(first, scope.period[0]), min(last, scope.period[1])
    if lo > hi:
        scope.require_days(first, last)  # raises: the auditor reads nothing outside its period
    return lo, hi


def _default_month(scope: Scope, today: date) -> date:
    """Last month (China calendar); for an auditor whose period lies elsewhere, its period's last month
    that has begun."""
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    if scope.period is None:
        return last_month
    first, last = month_days(last_month)
    if scope.period[0] <= last and scope.period[1] >= first:
        return last_month
    return min(scope.period[1], today).replace(day=1)


def _month_options(scope: Scope, today: date) -> list[str]:
    """This month and the ones before it, newest first; an auditor's only those touching its period."""
    out = []
    month = today.replace(day=1)
    for _ in range(MONTHS_OFFERED):
        first, last = month_days(month)
        if scope.period is None or (scope.period[0] <= last and scope.period[1] >= first):
            out.append(f"{month:%Y-%m}")
        month = (month - timedelta(days=1)).replace(day=1)
    return out


def _matches(q: str, *texts: str) -> bool:
    needle = q.strip().casefold()
    return not needle or any(needle in text.casefold() for text in texts)


def _outlet_groups(request: Request, scope: Scope, q: str) -> list[dict[str, Any]]:
    """The visible outlets by enterprise (then outlet code), those whose enterprise name, outlet code or
    outlet name contains ``q``."""
    groups = []
    with engine_of(request).connect() as conn:
        for ent in visible_enterprises(conn, scope):
            outlets = [
                o
                for o in registry.list_outlets(conn, ent["id"])
                if scope.sees_outlet(o["id"]) and _matches(q, ent["name"], o["code"], o["name"])
            ]
            if outlets:
                groups.append({"enterprise": ent, "outlets": outlets})
    return groups


def _rates_days(scope: Scope, today: date) -> tuple[date, date]:
    """The rates form's default: the default month's days (an auditor's part of it), up to today."""
    first, last = _covered_days(scope, _default_month(scope, today))
    return first, min(last, today)


def _page(
    request: Request,
    viewer: Viewer,
    scope: Scope,
    *,
    status: int = 200,
    outlet: int | None = None,
    month: str | None = None,
    problem: FormProblem | None = None,
) -> Response:
    today = china_today()
    q = request.query_params.get("q", "")
    rates_first, rates_last = _rates_days(scope, today)
    return render(
        request,
        "reports.html",
        status,
        viewer=viewer,
        q=q,
        groups=_outlet_groups(request, scope, q),
        outlet=outlet,
        month=month or f"{_default_month(scope, today):%Y-%m}",
        months=_month_options(scope, today),
        problem=problem,
        rates_first=rates_first.isoformat(),
        rates_last=rates_last.isoformat(),
        rate_groups=[(g, GROUP_LABELS[g]) for g in GROUPS],
        registry_export=REGISTRY_EXPORT if scope.can_write("registry") else None,
    )


def _visible_outlet_id(request: Request, scope: Scope, text: str | None) -> int:
    """The outlet id asked for: 422 unreadable, 404 out of scope (as missing)."""
    outlet_id = _parse_outlet(text)
    with engine_of(request).connect() as conn:
        visible_outlet(conn, scope, outlet_id)
    return outlet_id


def _readable_month(scope: Scope, text: str | None) -> date:
    """The month asked for: 422 unreadable or not begun yet, 403 for an auditor outside its period."""
    first = _parse_month(text)
    _check_not_future(first, china_today())
    _covered_days(scope, first)
    return first


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request, viewer: CurrentViewer, outlet: str | None = None, month: str | None = None
) -> Response:
    """The downloads; ``outlet``/``month`` preselect the monthly report's form (and are checked)."""
    scope = data_scope(request, viewer)
    outlet_id = None
    try:
        if outlet is not None:
            outlet_id = _visible_outlet_id(request, scope, outlet)
        if month is not None:
            _readable_month(scope, month)
    except FormProblem as problem:
        return _page(request, viewer, scope, status=422, outlet=outlet_id, month=month, problem=problem)
    return _page(request, viewer, scope, outlet=outlet_id, month=month)


def attachment(name: str) -> str:
    """Content-Disposition of a download: an ASCII ``filename`` always, the exact UTF-8 one (RFC 5987
    ``filename*``) when the name holds anything else."""
    plain = _UNSAFE_IN_NAME.sub("_", name)
    if plain == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/reports/outlet-month.xlsx")
def outlet_month_xlsx(
    request: Request, viewer: CurrentViewer, outlet: str | None = None, month: str | None = None
) -> Response:
    """The monthly outlet report; a form problem comes back as the page with its message (422)."""
    scope = data_scope(request, viewer)
    outlet_id = None
    try:
        outlet_id = _visible_outlet_id(request, scope, outlet)
        first = _readable_month(scope, month)
    except FormProblem as problem:
        return _page(request, viewer, scope, status=422, outlet=outlet_id, month=month, problem=problem)
    stream = io.BytesIO()
    with engine_of(request).connect() as conn:
        data = gather_outlet_month(
            conn,
            settings_of(request),
            outlet_id,
            first,
            utcnow(),
            days=_covered_days(scope, first),
            device_ids=scope.device_ids,
        )
    write_outlet_month(stream, data)
    name = f"{data.credit_code}-{data.outlet_code}-{first:%Y-%m}.xlsx"
    return Response(
        stream.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": attachment(name), "Cache-Control": "no-store"},
    )
