"""The enterprise's outlets (排放口): live values against limits, hour and day tables.

- ``/outlets``: the visible outlets by enterprise, each device's online state and, per rated factor, the
  latest real-time value (实时值) against the hour limit (小时均值限值) in force today; ``/outlets/values``
  is the same block alone, polled by htmx every 60 s;
- ``/outlets/{id}``: one outlet with its limits in force and their history (append-only,
  ``service_limits.limit_history``), devices, the explained hour table of one China day
  (``hourly_view.device_hours``) and the daily values of one month (``daily_view.device_days``).

The hour rows and their reasons are worded by the device page's ``hour_rows``, so an invalid hour reads
the same on both pages. A real-time value is compared with the hour limit as a live hint only: the
finding that counts is the hour value (折算浓度 for gas, where there is one).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import InvalidInput
from envwatch.ingest.queries import read_devices
from envwatch.monitoring.daily_view import device_days
from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.hourly_view import device_hours
from envwatch.registry import service as registry
from envwatch.registry.service_limits import limit_history
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.device import OUTCOME_LABELS, SOURCE_LABELS, hour_rows, latest_values
from envwatch.web.pages.i18n import N_, locale_of
from envwatch.web.pages.outlet_view import (
    OutletCard,
    device_ids_on,
    limit_state,
    limits_by_factor,
    outlet_cards,
    rated_factors,
    visible_outlet,
)
from envwatch.web.pages.paging import paginate
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, data_scope
from envwatch.web.scope import Scope, china_today

router = APIRouter(include_in_schema=False)

KIND_LABELS = {"gas": N_("gas"), "water": N_("water")}
STATE_LABELS = {"over": N_("above the limit"), "within": N_("within the limit"), "none": N_("no limit")}


def _devices(
    request: Request,
    scope: Scope,
    ids: list[int],
    limits: dict[str, dict[str, Any]],
    by_id: dict[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """The devices with online state and, per rated factor, the latest real-time value against the hour
    limit. A device without registered factors shows what it sent (as the device page does). An auditor
    whose period is over sees no live values (its data ends with the period)."""
    now = utcnow()
    live = scope.in_period(now)
    out = []
    with engine_of(request).connect() as conn:
        for device_id in ids:
            row = dict(by_id[device_id])
            latest = {v["factor"]: v for v in latest_values(request, device_id, now)} if live else {}
            rated = rated_factors(conn, row["mn"])
            factors = [(f["factor"], f["unit"]) for f in rated] or [(f, "") for f in sorted(latest)]
            row["factors"] = []
            for factor, unit in factors:
                value = latest.get(factor)
                limit = limits.get(factor)
                number = None if value is None else value["value"]
                row["factors"].append(
                    {
                        "factor": factor,
                        "unit": unit or (limit or {}).get("unit", ""),
                        "value": number,
                        "at": None if value is None else value["data_time"],
                        "limit": limit,
                        "state": limit_state(number, limit, "hour"),
                    }
                )
            row["online"] = bool(row["online"])
            out.append(row)
    return out


def _groups(request: Request, scope: Scope, cards: list[OutletCard]) -> list[dict[str, Any]]:
    """The cards grouped by enterprise, in the order they came (enterprise, then outlet code)."""
    groups: list[dict[str, Any]] = []
    by_id = {d["id"]: d for d in read_devices(engine_of(request))}  # once: every card looks its devices up
    for card in cards:
        if not groups or groups[-1]["enterprise"]["id"] != card.enterprise["id"]:
            groups.append({"enterprise": card.enterprise, "outlets": []})
        ids = [d["id"] for d in card.devices]
        groups[-1]["outlets"].append(
            {
                "outlet": card.outlet,
                "limits": card.limits,
                "devices": _devices(request, scope, ids, card.limits, by_id),
            }
        )
    return groups


def _list_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    scope = data_scope(request, viewer)
    q = request.query_params.get("q", "")
    with engine_of(request).connect() as conn:
        cards = outlet_cards(conn, scope, q, china_today())
    # 50 outlets a page: an administrator's or a province's list has thousands, each with live values
    paged = paginate(cards, request.query_params.get("page"), q)
    return {
        "viewer": viewer,
        "groups": _groups(request, scope, paged.rows),
        "paged": paged,
        "q": q,
        "kind_labels": KIND_LABELS,
        "state_labels": STATE_LABELS,
    }


@router.get("/outlets", response_class=HTMLResponse)
def outlets_page(request: Request, viewer: CurrentViewer) -> Response:
    return render(request, "outlets.html", **_list_context(request, viewer))


@router.get("/outlets/values", response_class=HTMLResponse)
def outlets_values(request: Request, viewer: CurrentViewer) -> Response:
    """The outlet list alone, for the page's htmx polling (every 60 s)."""
    return render(request, "_outlet_values.html", **_list_context(request, viewer))


def _day(text: str | None, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"day={text!r} is not a date such as 2026-11-22") from None


def _month(text: str | None, default: date) -> tuple[date, date]:
    """The first and last day of a month given as YYYY-MM."""
    first = default.replace(day=1)
    if text:
        try:
            first = date.fromisoformat(text + "-01")
        except ValueError:
            raise InvalidInput(f"month={text!r} is not a month such as 2026-11") from None
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _default_day(scope: Scope) -> date:
    """Today in China, or the last day of an auditor's period when that ended earlier (the auditor may
    read only inside it)."""
    today = china_today()
    return min(today, scope.period[1]) if scope.period is not None else today


def _hour_table(
    request: Request, device_id: int, factor: str, day: date, limit: dict[str, Any] | None, now: datetime
) -> list[dict[str, Any]]:
    start, end = day_start(day), day_start(day + timedelta(days=1))
    if start >= now:  # a day not begun has no hour over yet
        return []
    with engine_of(request).connect() as conn:
        hours = device_hours(conn, settings_of(request), device_id, factor, start, end, now)
    rows = hour_rows(hours, locale_of(request))
    for row in rows:
        # the hour limit is a converted concentration (折算) for gas where one was computed
        judged = row["converted_value"] if row["converted_value"] is not None else row["value"]
        row["state"] = limit_state(judged, limit, "hour")
    return rows


def _day_table(
    request: Request, device_id: int, factor: str, first: date, last: date, limit: dict[str, Any] | None
) -> list[dict[str, Any]]:
    now = utcnow()
    last = min(last, to_china(now).date())  # days ahead would only say "incomplete"
    if first > last:
        return []
    with engine_of(request).connect() as conn:
        days = device_days(conn, settings_of(request), device_id, factor, first, last, now)
    text_key = "zh" if locale_of(request) == "zh_CN" else "en"
    for row in days:
        row["state"] = limit_state(row["value"], limit, "day")
        row["reason_texts"] = [r[text_key] or r["en"] for r in row["reasons"]]
    return list(reversed(days))


@router.get("/outlets/{outlet_id}", response_class=HTMLResponse)
def outlet_page(
    request: Request,
    viewer: CurrentViewer,
    outlet_id: int,
    day: str | None = None,
    month: str | None = None,
    factor: str | None = None,
    device: str | None = None,
) -> Response:
    scope = data_scope(request, viewer)
    today = china_today()
    with engine_of(request).connect() as conn:
        outlet = visible_outlet(conn, scope, outlet_id)
        enterprise = registry.get_enterprise(conn, outlet["enterprise_id"])
        limits = limits_by_factor(conn, outlet_id, today)
        history = limit_history(conn, outlet_id)
        ids = device_ids_on(conn, scope, [outlet_id])[outlet_id]
    by_id = {d["id"]: d for d in read_devices(engine_of(request))}
    devices = _devices(request, scope, ids, limits, by_id)
    problem = None
    chosen_day = _default_day(scope)
    first, last = _month(None, chosen_day)
    try:
        chosen_day = _day(day, chosen_day)
        first, last = _month(month, chosen_day)
    except InvalidInput as exc:
        problem = exc.message
    chosen = next((d for d in devices if d["mn"] == device), devices[0] if devices else None)
    factors = [] if chosen is None else [f["factor"] for f in chosen["factors"]]
    picked = factor if factor in factors else (factors[0] if factors else None)
    hours: list[dict[str, Any]] = []
    days: list[dict[str, Any]] = []
    if chosen is not None and picked is not None and problem is None:
        scope.require_days(chosen_day, chosen_day)
        scope.require_days(first, last)
        limit = limits.get(picked)
        hours = _hour_table(request, chosen["id"], picked, chosen_day, limit, utcnow())
        days = _day_table(request, chosen["id"], picked, first, last, limit)
    return render(
        request,
        "outlet.html",
        422 if problem else 200,
        viewer=viewer,
        outlet=outlet,
        enterprise=enterprise,
        limits=sorted(limits.values(), key=lambda r: r["factor"]),
        history=history,
        devices=devices,
        device=chosen,
        factors=factors,
        factor=picked,
        limit=limits.get(picked) if picked else None,
        day=chosen_day.isoformat(),
        month=first.strftime("%Y-%m"),
        hours=hours,
        days=days,
        problem=problem,
        can_mark=scope.can_write("mark"),
        kind_labels=KIND_LABELS,
        state_labels=STATE_LABELS,
        source_labels=SOURCE_LABELS,
        outcome_labels=OUTCOME_LABELS,
    )
