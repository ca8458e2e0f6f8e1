"""Public disclosure (信息公开, SX-7): an enterprise's automatic monitoring data without login, and its settings.

SX-7: 排污单位……如实、及时、完整地向社会公开自动监测数据，接受社会监督. Two pages for anyone, no session:

- ``/public``: the published enterprises (``registry.disclosure.published_enterprises``), search by name,
  filter by region code, 50 per page;
- ``/public/{credit_code}``: one published enterprise: name, credit code, region, address, contact and
  statement, its outlets with their rated factors, and for the chosen outlet and China day (default
  yesterday, never the future) each factor's hours and the month's daily values against the limits
  (:mod:`envwatch.web.pages.public_data`). Unknown and withdrawn enterprises get the same 404.

These pages never read or set a session (the header shows no user), carry the security headers of every
page (``render``), and bound the work of an anonymous request: one outlet, one day of hours, one month of
days. A past day cannot change any more, so it may be cached for five minutes by anyone; the language comes
from a cookie or Accept-Language, hence ``Vary``. The settings page (/disclosure) is in
:mod:`envwatch.web.pages.disclosure_page`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.registry.disclosure import published_enterprise, published_enterprises
from envwatch.registry.service import list_outlets
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.disclosure_page import router as disclosure_router
from envwatch.web.pages.i18n import N_, locale_of
from envwatch.web.pages.public_data import factor_name, limits_by_day, monitored_factors, outlet_reports
from envwatch.web.pages.render import render
from envwatch.web.scope import china_today

router = APIRouter(include_in_schema=False)
router.include_router(disclosure_router)

PAGE_SIZE = 50
MAX_PAGE = 100_000
SEARCH_MAX = 100  # characters of a name search
PAST_DAY_CACHE = "public, max-age=300"
KIND_LABELS = {"gas": N_("waste gas"), "water": N_("waste water")}
OUTCOME_LABELS = {"valid": N_("valid"), "invalid": N_("invalid"), "exempt": N_("exempt")}


def _public(response: Response, cache: str) -> Response:
    response.headers["Cache-Control"] = cache
    # the same URL is rendered in the visitor's language (cookie or Accept-Language)
    response.headers["Vary"] = "Cookie, Accept-Language"
    return response


def _page_number(text: str | None) -> int:
    """The page asked for, 1 for anything unreadable; capped so the offset stays a sane integer."""
    try:
        return min(max(1, int(text or "1")), MAX_PAGE)
    except ValueError:
        return 1


@router.get("/public", response_class=HTMLResponse)
def public_index(request: Request) -> Response:
    q = request.query_params
    name = q.get("q", "").strip()[:SEARCH_MAX]
    region = q.get("region", "").strip()
    page = _page_number(q.get("page"))
    problem, status = None, 200
    try:
        with engine_of(request).connect() as conn:
            rows, total = published_enterprises(
                conn, name=name or None, region=region or None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
            )
    except InvalidInput as exc:
        problem, status, rows, total = exc.message, 422, [], 0
    pages = max(1, -(-total // PAGE_SIZE))

    def link(n: int) -> str:
        return "/public?" + urlencode({k: v for k, v in (("q", name), ("region", region), ("page", n)) if v})

    return _public(
        render(
            request,
            "public_index.html",
            status,
            enterprises=rows,
            total=total,
            filter={"q": name, "region": region},
            page=min(page, pages),
            pages=pages,
            prev_link=link(page - 1) if page > 1 else None,
            next_link=link(page + 1) if page < pages else None,
            problem=problem,
        ),
        "public, max-age=60",
    )


def _chosen_day(text: str | None, today: date) -> tuple[date, str | None]:
    """The China day asked for (default yesterday), or yesterday with why the asked one is refused."""
    yesterday = today - timedelta(days=1)
    if not text:
        return yesterday, None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return yesterday, f"{text!r} is not a day (YYYY-MM-DD)"
    if day > today:
        return yesterday, f"{day.isoformat()} is in the future"
    return day, None


def _outlets(conn: Any, enterprise_id: int, locale: str) -> list[dict[str, Any]]:
    """The enterprise's outlets, each with its rated factors (every outlet: publication is complete)."""
    out = []
    for outlet in list_outlets(conn, enterprise_id):
        factors = monitored_factors(conn, outlet["id"])
        out.append(
            {
                "id": outlet["id"],
                "code": outlet["code"],
                "name": outlet["name"],
                "kind": outlet["kind"],
                "factors": factors,
                "factor_names": {m.factor: factor_name(m.factor, locale) for m in factors},
            }
        )
    return out


@router.get("/public/{credit_code}", response_class=HTMLResponse)
def public_enterprise(request: Request, credit_code: str) -> Response:
    today = china_today()
    day, problem = _chosen_day(request.query_params.get("day"), today)
    locale = locale_of(request)
    now = utcnow()
    with engine_of(request).connect() as conn:
        try:
            enterprise = published_enterprise(conn, credit_code)
        except NotFound as exc:
            raise HTTPException(404, exc.message) from None
        outlets = _outlets(conn, enterprise["id"], locale)
        asked = request.query_params.get("outlet")
        chosen = next((o for o in outlets if o["code"] == asked), outlets[0] if outlets else None)
        reports = []
        if chosen is not None:
            limits = limits_by_day(conn, chosen["id"], day.replace(day=1), day)
            reports = outlet_reports(conn, settings_of(request), chosen["factors"], day, limits, now, locale)
    response = render(
        request,
        "public_enterprise.html",
        422 if problem else 200,
        enterprise=enterprise,
        disclosure=enterprise["disclosure"],
        outlets=outlets,
        chosen=chosen,
        reports=reports,
        day=day,
        today=today,
        prev_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1) if day < today else None,
        problem=problem,
        kind_labels=KIND_LABELS,
        outcome_labels=OUTCOME_LABELS,
    )
    return _public(response, PAST_DAY_CACHE if day < today and not problem else "no-cache")
