"""The regulator's regional overview (区域总览): map of outlets by status, counts, rate rankings, today's exceedances.

Routes (admin and regulator; other roles get 403): ``/region`` (the page: region selector, counts, map,
outlet table), ``/region/counts`` (the counts alone, refreshed every 60 s on a wall screen),
``/region/outlets.json`` (the map's data), ``/region/boundaries.geojson`` (the deployment's boundary file,
when configured), and the slower htmx fragments ``/region/ranking`` (有效传输率 by enterprise or operator,
this China month so far) and ``/region/exceedances`` (今日超标, the quick view).

Everything is the viewer's scope (``session.data_scope``) cut to the chosen region: the figures come from
``monitoring.overview`` and ``monitoring.rates.compute_rates``; this module only picks and formats.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput
from envwatch.ingest.queries import read_devices
from envwatch.monitoring.hour_cache import HourCache
from envwatch.monitoring.overview import Area, AreaOutlet, Overview, area_device_ids, overview
from envwatch.monitoring.rates import RateQuery, compute_rates
from envwatch.registry.service import region_prefix
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.i18n import N_, locale_of, translations
from envwatch.web.pages.render import NAV, render, security_headers
from envwatch.web.pages.session import CurrentViewer, Viewer, data_scope
from envwatch.web.scope import Scope, china_today

router = APIRouter(include_in_schema=False)

EXCEEDANCES_SHOWN = 200  # rows of today's exceedances on the dashboard, worst first

# the roles of the navigation entry: one table decides who sees the link and who may open the page
ROLES = next(item.roles for item in NAV if item.path == "/region")
TOP_ENTERPRISES = 10
RANKING_GROUPS = ("enterprise", "operator")

STATUS_LABELS = {
    "exceeding": N_("Exceeding today"),
    "offline": N_("Offline"),
    "online": N_("Online, no exceedance"),
    "no_device": N_("No device"),
}
KIND_LABELS = {"gas": N_("gas"), "water": N_("water")}


@dataclass(frozen=True)
class Chosen:
    """The region the page shows (a code prefix, None = everything) and why an asked one was refused."""

    region: str | None
    refused: str | None = None  # a message; the page then shows the viewer's own region
    status: int = 200


def _scope(request: Request, viewer: Viewer) -> Scope:
    if viewer.principal.role not in ROLES:
        raise HTTPException(403, f"role {viewer.principal.role} has no regional overview")
    return data_scope(request, viewer)


def choose_region(viewer: Viewer, asked: str | None) -> Chosen:
    """The admin may ask any region; a regulator its own or a city/county under it (the scope already
    holds it to its region: this only keeps the selector honest and says no)."""
    own = viewer.principal.region_code
    home = region_prefix(own) if viewer.principal.role == "regulator" and own else None
    if not asked or not asked.strip():
        return Chosen(home)
    try:
        wanted = region_prefix(asked)
    except InvalidInput as exc:
        return Chosen(home, exc.message, 422)
    if viewer.principal.role != "admin" and (home is None or not wanted.startswith(home)):
        return Chosen(home, f"region {asked.strip()} is outside your region {own or '—'}", 403)
    return Chosen(wanted)


def _chosen_or_refuse(viewer: Viewer, asked: str | None) -> Chosen:
    """For the fragments and JSON: a refused region is an error, not a silent fallback."""
    chosen = choose_region(viewer, asked)
    if chosen.refused is not None:
        raise HTTPException(chosen.status, chosen.refused)
    return chosen


def _area(scope: Scope, region: str | None) -> Area:
    return Area(region, scope.enterprise_ids, scope.outlet_ids, scope.device_ids)


def _hour_cache(request: Request) -> HourCache:
    """The app's cache of today's judged hours (made by ``create_app``, kept warm by ``serve``): every
    region request of every viewer shares it (a verdict does not depend on who looks; the area only
    picks devices)."""
    cache: HourCache = request.app.state.hour_cache
    return cache


def _overview(request: Request, scope: Scope, region: str | None) -> Overview:
    """Computed once per request (each route below calls it once)."""
    online = {row["id"]: bool(row["online"]) for row in read_devices(engine_of(request))}
    with engine_of(request).connect() as conn:
        area = _area(scope, region)
        return overview(conn, settings_of(request), area, online, utcnow(), _hour_cache(request))


def _query(region: str | None, **more: str) -> str:
    params = {"region": region or "", **more}
    return urlencode({k: v for k, v in params.items() if v})


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _shown(value: Decimal) -> str:
    """A value for reading: at most three decimals (a 折算浓度 carries many), no exponent."""
    return format(value.quantize(Decimal("0.001")).normalize(), "f")


def _has_place(outlet: AreaOutlet) -> bool:
    return outlet.latitude is not None and outlet.longitude is not None


def _map_config(request: Request, region: str | None) -> str:
    """The map's settings and texts for static/region-map.js (a JSON block: the CSP forbids inline
    scripts)."""
    settings = settings_of(request)
    gettext = translations(locale_of(request)).gettext
    data = {
        "outlets": "/region/outlets.json?" + _query(region),
        "boundaries": "/region/boundaries.geojson" if settings.map_boundaries_file else None,
        "tiles": settings.map_tiles_url or None,
        "attribution": settings.map_tiles_attribution,
        "labels": {
            **{k: gettext(v) for k, v in STATUS_LABELS.items()},
            "open": gettext("Open the outlet"),
            "map": gettext("Map of the outlets"),
        },
    }
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _context(
    request: Request, viewer: Viewer, chosen: Chosen, view: Overview, screen: bool
) -> dict[str, Any]:
    region = chosen.region
    return {
        "viewer": viewer,
        "chosen": chosen,
        "everything": region is None and viewer.principal.role == "admin",
        "screen": screen,
        "counts": view.counts,
        "outlets": view.outlets,
        "status": view.status,
        "placeless": [o for o in view.outlets if not _has_place(o)],
        "status_labels": STATUS_LABELS,
        "kind_labels": KIND_LABELS,
        "counts_url": "/region/counts?" + _query(region, screen="1" if screen else ""),
        "ranking_urls": {g: "/region/ranking?" + _query(region, group=g) for g in RANKING_GROUPS},
        "exceedances_url": "/region/exceedances?" + _query(region),
        "map_config": _map_config(request, region),
    }


@router.get("/region", response_class=HTMLResponse)
def region_page(
    request: Request, viewer: CurrentViewer, region: str | None = None, screen: str = ""
) -> Response:
    scope = _scope(request, viewer)
    chosen = choose_region(viewer, region)
    view = _overview(request, scope, chosen.region)
    context = _context(request, viewer, chosen, view, screen == "1")
    return render(request, "region.html", chosen.status, **context)


@router.get("/region/counts", response_class=HTMLResponse)
def region_counts(
    request: Request, viewer: CurrentViewer, region: str | None = None, screen: str = ""
) -> Response:
    scope = _scope(request, viewer)
    chosen = _chosen_or_refuse(viewer, region)
    view = _overview(request, scope, chosen.region)
    return render(request, "_region_counts.html", **_context(request, viewer, chosen, view, screen == "1"))


@router.get("/region/outlets.json")
def region_outlets(request: Request, viewer: CurrentViewer, region: str | None = None) -> Response:
    """The map's outlets: id, name, enterprise, kind, coordinates (outlet's, else enterprise's, else null),
    status and the outlet page's address."""
    scope = _scope(request, viewer)
    chosen = _chosen_or_refuse(viewer, region)
    view = _overview(request, scope, chosen.region)
    rows = [
        {
            "id": o.id,
            "code": o.code,
            "name": o.name,
            "enterprise": o.enterprise,
            "kind": o.kind,
            "lat": _number(o.latitude),
            "lon": _number(o.longitude),
            "status": view.status[o.id],
            "url": f"/outlets/{o.id}",
        }
        for o in view.outlets
    ]
    body = {"region": chosen.region, "outlets": rows}
    return JSONResponse(body, headers=security_headers(settings_of(request).map_tiles_url))


@router.get("/region/boundaries.geojson")
def region_boundaries(request: Request, viewer: CurrentViewer) -> Response:
    """The deployment's own boundary file (settings.map_boundaries_file), drawn under the outlets."""
    _scope(request, viewer)
    path = settings_of(request).map_boundaries_file
    if path is None or not path.is_file():
        raise HTTPException(404, "no boundary file is configured")
    return FileResponse(path, media_type="application/geo+json")


def _ranked(rows: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    """Lowest effective rate first; rows with nothing expected (no rate) last."""
    rows = sorted(rows, key=lambda r: (r["effective_rate"] is None, r["effective_rate"] or 0))
    return rows[:TOP_ENTERPRISES] if group == "enterprise" else rows


@router.get("/region/ranking", response_class=HTMLResponse)
def region_ranking(
    request: Request, viewer: CurrentViewer, group: str = "enterprise", region: str | None = None
) -> Response:
    scope = _scope(request, viewer)
    if group not in RANKING_GROUPS:
        raise HTTPException(422, f"group must be one of {', '.join(RANKING_GROUPS)}")
    chosen = _chosen_or_refuse(viewer, region)
    today = china_today()
    with engine_of(request).connect() as conn:
        fleet = area_device_ids(conn, _area(scope, chosen.region))
    query = RateQuery(today.replace(day=1), today, group=group, device_ids=fleet)
    rows = compute_rates(engine_of(request), settings_of(request), query, utcnow())
    return render(
        request,
        "_region_ranking.html",
        viewer=viewer,
        group=group,
        rows=_ranked(rows, group),
        first=query.first,
        last=query.last,
        top=TOP_ENTERPRISES,
    )


@router.get("/region/exceedances", response_class=HTMLResponse)
def region_exceedances(request: Request, viewer: CurrentViewer, region: str | None = None) -> Response:
    scope = _scope(request, viewer)
    chosen = _chosen_or_refuse(viewer, region)
    view = _overview(request, scope, chosen.region)
    # worst first, and at most EXCEEDANCES_SHOWN rows: on a bad day a province has thousands, and a page
    # of thousands of rows helps nobody (the outlet pages list every hour)
    worst = sorted(view.exceedances, key=lambda e: (e.multiple is None, -(e.multiple or 0)))
    rows = [{**asdict(e), "value_text": _shown(e.value)} for e in worst[:EXCEEDANCES_SHOWN]]
    return render(
        request,
        "_region_exceedances.html",
        viewer=viewer,
        exceedances=rows,
        more=len(worst) - len(rows),
        today=china_today(),
    )
