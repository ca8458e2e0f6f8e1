"""The operator's workbench (运维工作台): what needs the operating company's attention on its contracted outlets.

Routes (operator and field staff: their start page; admin with ``?operator=ID``; other roles 403):

- ``/workbench``: counts and five sections: devices offline now, data quality of the last completed
  hours, open fault/maintenance/calibration marks with this month's fault counts (SX-30.6), this month's
  effective transmission rates (loaded as a fragment), filings due or overdue (SX-14, SX-15);
- ``/workbench/attention``: the offline devices alone (htmx, refreshed every 60 s: live durations);
- ``/workbench/rates``: 有效传输率 per device, China month so far, lowest first (slow: a fragment).

The scope is the operator's, resolved by ``web.scope.resolve_scope`` (contracts in force today): for an
operator or its field staff their own; for an admin the one of the operator chosen (a chooser otherwise).
Figures come from ``monitoring.workbench``, ``monitoring.rates`` and the filings API's own list function
(``filing_view.visible_filings``); this module only picks and formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.errors import NotFound
from envwatch.ingest.queries import read_devices
from envwatch.monitoring import workbench as service
from envwatch.monitoring.marks import mark_codes
from envwatch.monitoring.rates import RateQuery, compute_rates
from envwatch.registry.service import list_enterprises
from envwatch.registry.service_operators import get_operator, list_operators
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.auth import Principal
from envwatch.web.pages.filing_view import visible_filings
from envwatch.web.pages.filings_page import KIND_LABELS, STATUS_BADGES, STATUS_LABELS
from envwatch.web.pages.i18n import locale_of
from envwatch.web.pages.public_data import factor_name
from envwatch.web.pages.render import NAV, render
from envwatch.web.pages.session import CurrentViewer, Viewer, data_scope
from envwatch.web.scope import Scope, china_today, resolve_scope

router = APIRouter(include_in_schema=False)

# the roles of the navigation entry open their own workbench; the admin looks at one operator's
ROLES = next(item.roles for item in NAV if item.path == "/workbench")
FILING_STATES = ("overdue", "due")  # what still asks for action, the late ones first


@dataclass(frozen=True)
class Bench:
    """Whose workbench is shown: the scope, and for an admin the operator chosen (its row)."""

    scope: Scope
    operator: dict[str, Any] | None = None

    @property
    def query(self) -> str:
        """The ``?operator=`` the fragments need to show the same operator's view."""
        return "?" + urlencode({"operator": self.operator["id"]}) if self.operator else ""


def _operator_id(asked: str) -> int:
    if not asked.strip().isdigit():
        raise HTTPException(422, f"operator must be an operator id, not {asked!r}")
    return int(asked)


def _bench(request: Request, viewer: Viewer, operator: str | None) -> Bench | None:
    """The viewer's workbench; None when an admin has not chosen an operator yet. 403 for other roles."""
    role = viewer.principal.role
    if role in ROLES:
        return Bench(data_scope(request, viewer))  # ?operator= is the admin's only: ignored here
    if role != "admin":
        raise HTTPException(403, f"role {role} has no operator workbench")
    if not operator:
        return None
    wanted = _operator_id(operator)
    with engine_of(request).connect() as conn:
        try:
            row = get_operator(conn, wanted)
        except NotFound as exc:
            raise HTTPException(404, exc.message) from None
        # the operator's own scope, from the one place scopes are decided
        as_operator = Principal(name=viewer.principal.name, role="operator", operator_id=wanted)
        return Bench(resolve_scope(conn, as_operator, china_today()), row)


def _hours_minutes(span: timedelta | None) -> dict[str, int] | None:
    """A duration as whole hours and minutes (the template words them in the viewer's language)."""
    if span is None:
        return None
    minutes = int(span.total_seconds() // 60)
    return {"h": minutes // 60, "m": minutes % 60}


def _attention(engine: Engine, scope: Scope) -> list[dict[str, Any]]:
    now = utcnow()
    with engine.connect() as conn:
        placed = service.placed_devices(conn, scope.device_ids)
    rows = service.offline_devices(placed, read_devices(engine), now)
    return [{"row": r, "duration": _hours_minutes(r.offline_for)} for r in rows]


def _quality_rows(problems: list[service.QualityProblem], locale: str) -> list[dict[str, Any]]:
    """Each device's invalid hours for reading on a phone: the factors of one hour that are invalid for
    the same reasons on one line (a flag or a mark usually hits every factor alike)."""
    rows = []
    for problem in problems:
        groups: dict[tuple[datetime, tuple[str, ...]], list[str]] = {}
        for hour in problem.hours:
            words = tuple(r.text_zh if locale == "zh_CN" else r.text_en for r in hour.reasons)
            groups.setdefault((hour.start, words), []).append(factor_name(hour.factor, locale))
        lines = [{"start": start, "reasons": words, "factors": f} for (start, words), f in groups.items()]
        rows.append({"problem": problem, "lines": lines})
    return rows


def _code_names(locale: str) -> dict[str, str]:
    return {c.code: c.name_zh if locale == "zh_CN" else c.name_en for c in mark_codes().values()}


def _filings(request: Request, scope: Scope) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The visible filings still due or already overdue (the filings API's list and scope filter)."""
    rows = [r for state in FILING_STATES for r in visible_filings(request, scope, None, state)]
    with engine_of(request).connect() as conn:
        names = {e["id"]: e["name"] for e in list_enterprises(conn) if scope.sees_enterprise(e["id"])}
    return rows, names


def _chooser(request: Request, viewer: Viewer) -> Response:
    with engine_of(request).connect() as conn:
        operators = list_operators(conn)
    return render(request, "workbench.html", viewer=viewer, bench=None, operators=operators)


@router.get("/workbench", response_class=HTMLResponse)
def workbench_page(request: Request, viewer: CurrentViewer, operator: str | None = None) -> Response:
    bench = _bench(request, viewer, operator)
    if bench is None:
        return _chooser(request, viewer)
    engine, settings, now = engine_of(request), settings_of(request), utcnow()
    scope = bench.scope
    with engine.connect() as conn:
        placed = service.placed_devices(conn, scope.device_ids)
        marks = service.open_marks(conn, placed, now)
        faults = service.fault_counts(conn, settings, placed, now)
    filings, enterprise_names = _filings(request, scope)
    locale = locale_of(request)
    return render(
        request,
        "workbench.html",
        viewer=viewer,
        bench=bench,
        devices=len(placed),
        offline=_attention(engine, scope),
        marks=[{"mark": m, "duration": _hours_minutes(m.open_for)} for m in marks],
        faults=faults,
        min_faults=settings.rates_month_min_faults,
        filings=filings,
        enterprise_names=enterprise_names,
        code_names=_code_names(locale),
        can_mark=scope.can_write("mark"),
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        status_badges=STATUS_BADGES,
    )


@router.get("/workbench/attention", response_class=HTMLResponse)
def workbench_attention(request: Request, viewer: CurrentViewer, operator: str | None = None) -> Response:
    """The offline devices alone: the page re-fetches them every 60 s (durations grow, devices return)."""
    bench = _bench(request, viewer, operator)
    if bench is None:
        raise HTTPException(422, "an administrator must choose an operator (?operator=ID)")
    offline = _attention(engine_of(request), bench.scope)
    return render(request, "_workbench_attention.html", viewer=viewer, bench=bench, offline=offline)


@router.get("/workbench/quality", response_class=HTMLResponse)
def workbench_quality(request: Request, viewer: CurrentViewer, operator: str | None = None) -> Response:
    """The data-quality section alone, loaded after the page: it judges the last completed hours of
    every device (about 0.5 s for 100 devices), which the rest of the page need not wait for. Its
    count tile is updated out of band (``hx-swap-oob``)."""
    bench = _bench(request, viewer, operator)
    if bench is None:
        raise HTTPException(422, "an administrator must choose an operator (?operator=ID)")
    with engine_of(request).connect() as conn:
        placed = service.placed_devices(conn, bench.scope.device_ids)
        quality = service.data_quality(conn, settings_of(request), placed, utcnow())
    return render(
        request,
        "_workbench_quality.html",
        viewer=viewer,
        bench=bench,
        quality=_quality_rows(quality, locale_of(request)),
        can_mark=bench.scope.can_write("mark"),
    )


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lowest effective rate first; devices with nothing expected (no rate) last."""
    return sorted(rows, key=lambda r: (r["effective_rate"] is None, r["effective_rate"] or 0, r["mn"]))


@router.get("/workbench/rates", response_class=HTMLResponse)
def workbench_rates(request: Request, viewer: CurrentViewer, operator: str | None = None) -> Response:
    """有效传输率 per device, this China month so far, flagged below the certified operator's line."""
    bench = _bench(request, viewer, operator)
    if bench is None:
        raise HTTPException(422, "an administrator must choose an operator (?operator=ID)")
    settings, today = settings_of(request), china_today()
    query = RateQuery(today.replace(day=1), today, group="device", device_ids=bench.scope.device_ids)
    rows = compute_rates(engine_of(request), settings, query, utcnow())
    minimum = settings.rates_operator_min_pct
    return render(
        request,
        "_workbench_rates.html",
        viewer=viewer,
        rows=_ranked(rows),
        low={r["mn"] for r in rows if r["effective_rate"] is not None and r["effective_rate"] < minimum},
        minimum=minimum,
        first=query.first,
        last=query.last,
    )
