"""Regulator statistics per agency (/sampling/stats), input to its credit evaluation (WZ-A2-14).

- ``/sampling/stats?from=YYYY-MM-DD&to=YYYY-MM-DD``: one row per visible agency with the figures of
  ``sampling.stats`` for the samples registered in ``[from, to)`` (China days; default this month), the
  totals, shortcuts to this month, last month and this year, and the workbook link;
- ``/sampling/stats.xlsx``: the same figures as the credit-evaluation workbook (the API's writer).

Who: admin, regulators (their region's agencies), agency accounts (their own); every check is the JSON API's
(``web.api.sampling_stats``). Figures that a sample-list filter can reproduce link to
``/sampling/samples`` with ``agency_id``, ``from``, ``to`` and the state or review filter.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from envwatch.core.errors import InvalidInput
from envwatch.sampling.stats import AgencyFigures, Period, Statistics, month_of, period
from envwatch.web.api import sampling_stats as api
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, any_scope

router = APIRouter(include_in_schema=False)

# the sample-list filter that reproduces a figure (state or review flag), for the figures that have one
LIST_FILTERS: dict[str, dict[str, str]] = {
    "registered": {},
    "pending_review": {"needs_review": "yes"},
    "rejections": {"state": "rejected"},
}
SHORTCUTS = (N_("This month"), N_("Last month"), N_("This year"))


def _shortcuts(today: date) -> list[tuple[str, Period]]:
    this = month_of(today)
    last = month_of(this.first - timedelta(days=1))
    year = period(date(today.year, 1, 1), date(today.year + 1, 1, 1))
    return list(zip(SHORTCUTS, (this, last, year), strict=True))


def _params(p: Period) -> dict[str, str]:
    return {"from": p.first.isoformat(), "to": p.end.isoformat()}


def list_links(f: AgencyFigures, p: Period) -> dict[str, str]:
    """The sample list behind each figure that has one (module docstring)."""
    base = {"agency_id": str(f.agency_id), **_params(p)}
    return {name: "/sampling/samples?" + urlencode(base | extra) for name, extra in LIST_FILTERS.items()}


def _statistics(request: Request, viewer: Any) -> tuple[Statistics | None, Period, str | None]:
    scope = any_scope(request, viewer)
    api.require_reader(scope)  # 403 before anything is read
    today = api.china_today()
    query = request.query_params
    try:
        chosen = api.chosen_period(query.get("from"), query.get("to"), today)
    except InvalidInput as exc:
        return None, month_of(today), exc.message
    return api.statistics_for(request, scope, chosen, today), chosen, None


@router.get("/sampling/stats", response_class=HTMLResponse)
def stats_page(request: Request, viewer: CurrentViewer) -> Response:
    stats, chosen, error = _statistics(request, viewer)
    return render(
        request,
        "sampling_stats.html",
        200 if error is None else 422,
        viewer=viewer,
        stats=stats,
        period=chosen,
        error=error,
        # what the form shows: the days as typed when they were refused
        typed={"from": request.query_params.get("from", ""), "to": request.query_params.get("to", "")}
        if error
        else _params(chosen),
        shortcuts=[
            (label, "/sampling/stats?" + urlencode(_params(p))) for label, p in _shortcuts(api.china_today())
        ],
        links={f.agency_id: list_links(f, chosen) for f in stats.agencies} if stats else {},
        xlsx_url="/sampling/stats.xlsx?" + urlencode(_params(chosen)),
    )


@router.get("/sampling/stats.xlsx")
def stats_xlsx(request: Request, viewer: CurrentViewer) -> Response:
    stats, _chosen, error = _statistics(request, viewer)
    if stats is None:
        raise HTTPException(422, error)
    return api.workbook_response(stats)
