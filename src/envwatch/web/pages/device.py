"""The device page (/devices/{mn}): header, chart of one factor over a chosen range (48 h by default, up to
30 days, ending now or at the end of a chosen China day), the explained hour table, the
device's marks and its last raw packets; /devices/{mn}/latest is the htmx-polled block of latest values.

Every figure comes from the services the JSON API uses (``hourly_view.device_hours``, ``marks_store``,
``ingest.queries``, ``monitoring.store``): this module only picks and formats.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import InvalidInput
from envwatch.ingest.commands import SPECS, create_command, recent_commands
from envwatch.ingest.queries import PacketQuery, read_devices, read_packets
from envwatch.monitoring import marks_store
from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.hourly_view import device_hours
from envwatch.monitoring.marks import mark_codes
from envwatch.monitoring.store import MeasurementQuery, read_measurements
from envwatch.registry.schema import device_factors
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.i18n import N_, locale_of, translations
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope

router = APIRouter(include_in_schema=False)

CHART_HOURS = 48  # the default range
# the ranges offered (hours); the longest stays within hourly_view.MAX_DAYS
SPANS = (24, 48, 7 * 24, 30 * 24)
PACKETS = 50
LATEST_WINDOW = timedelta(hours=2)  # real-time values older than this are not "latest" any more

SOURCE_LABELS = {
    "device": N_("device hour record"),
    "minutes": N_("from minute records"),
    "none": N_("nothing received"),
}
OUTCOME_LABELS = {"valid": N_("valid"), "invalid": N_("invalid"), "exempt": N_("exempt")}
# downlink commands (HJ 212-2017 Table 4/6) and their states (ingest.exchange), in the page's words
COMMAND_LABELS = {
    "1011": N_("Get the logger's time"),
    "1012": N_("Set the logger's time (empty: the platform's clock)"),
    "1061": N_("Get the real-time data interval"),
    "1062": N_("Set the real-time data interval (30–3600 s)"),
    "1063": N_("Get the minute data interval"),
    "1064": N_("Set the minute data interval (1–30 min)"),
    "2051": N_("Re-send minute data of a time range (补传)"),
    "2061": N_("Re-send hour data of a time range (补传)"),
    "2031": N_("Re-send day data of a time range (补传)"),
}
COMMAND_STATES = {
    "queued": N_("queued"),
    "sent": N_("sent"),
    "accepted": N_("accepted by the logger"),
    "done": N_("done"),
    "failed": N_("failed"),
    "timed_out": N_("no answer"),
    "expired": N_("expired (the logger was not connected)"),
    "interrupted": N_("interrupted"),
}


def _device_row(request: Request, device_id: int) -> dict[str, Any]:
    # the same reader as the device list, so header and list can never disagree
    row = next(r for r in read_devices(engine_of(request)) if r["id"] == device_id)
    row["online"] = bool(row["online"])
    return row


def _factors(request: Request, device_id: int, start: datetime, end: datetime) -> list[str]:
    """Registered factors first, then any other factor the device sent hour records for in the range
    (devices imported from a plain MN list have no registered factors)."""
    with engine_of(request).connect() as conn:
        registered = list(
            conn.execute(
                select(device_factors.c.factor)
                .where(device_factors.c.device_id == device_id)
                .order_by(device_factors.c.factor)
            ).scalars()
        )
    rows, _cut = read_measurements(engine_of(request), MeasurementQuery(device_id, "hour", start, end))
    seen = sorted({r["factor"] for r in rows} - set(registered))
    return registered + seen


def _recent_rtd(request: Request, device_id: int, now: datetime) -> list[dict[str, Any]]:
    """The real-time records (实时数据) of the last ``LATEST_WINDOW``, one row per factor, in time order."""
    rows, _cut = read_measurements(
        engine_of(request),
        MeasurementQuery(device_id, "rtd", now - LATEST_WINDOW, now + timedelta(minutes=5)),
    )
    return rows


def _newest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # time order: the last one of a factor wins
        latest[row["factor"]] = row
    return [latest[f] for f in sorted(latest)]


def latest_values(request: Request, device_id: int, now: datetime) -> list[dict[str, Any]]:
    """The newest real-time value of each factor over the last ``LATEST_WINDOW``."""
    return _newest(_recent_rtd(request, device_id, now))


def live_data(rows: list[dict[str, Any]], factor: str | None, label: str) -> str | None:
    """The live chart's JSON (static/device-live.js): ``factor``'s real-time values of the window, with
    their flags; None when there are none."""
    points = [r for r in rows if r["factor"] == factor]
    if not points:
        return None
    return json.dumps(
        {
            "factor": factor,
            "label": label,
            "times": [to_china(r["data_time"]).strftime("%H:%M:%S") for r in points],
            "values": [_number(r["value"]) for r in points],
            "flags": [r.get("flag") or "" for r in points],
        }
    )


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def chart_data(hours: list[dict[str, Any]], factor: str, labels: dict[str, str]) -> str:
    """The chart's data as JSON for a ``<script type="application/json">`` block (the CSP forbids inline
    scripts; static/device-chart.js reads it). Invalid hours become shaded areas."""
    times = [to_china(h["start"]).strftime("%m-%d %H:%M") for h in hours]
    data = {
        "factor": factor,
        "times": times,
        "values": [_number(h["value"]) for h in hours],
        "outcomes": [h["outcome"] for h in hours],
        "invalid": [[times[i], times[i]] for i, h in enumerate(hours) if h["outcome"] == "invalid"],
        "labels": labels,
    }
    # "</" cannot close the script block: escape it (a factor code or label is ours, but be safe)
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def hour_rows(hours: list[dict[str, Any]], locale: str) -> list[dict[str, Any]]:
    """The hour table, newest first, each reason in the page language (the reasons carry both texts)."""
    text_key = "zh" if locale == "zh_CN" else "en"
    out = []
    for h in reversed(hours):
        converted = h.get("converted")
        out.append(
            {
                **h,
                "reason_texts": [r[text_key] or r["en"] for r in h["reasons"]],
                "converted_value": None if converted is None else converted.get("value"),
            }
        )
    return out


def _mark_rows(
    conn: Any, device_id: int, start: datetime, end: datetime, locale: str
) -> list[dict[str, Any]]:
    codes = mark_codes()
    rows = marks_store.list_marks(conn, device_id, start, end)
    for row in rows:
        code = codes.get(row["code"])
        row["code_name"] = (
            (code.name_zh if locale == "zh_CN" else code.name_en) if code is not None else row["code"]
        )
    return rows


def _range(span: int, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the chart: ``span`` hours up to now, or up to the end of the China day ``until``
    (history; never past now). Raises HTTPException 422 for a span not offered or an unreadable day."""
    if span not in SPANS:
        raise HTTPException(422, f"span must be one of {', '.join(map(str, SPANS))} hours, not {span}")
    end = now
    if until:
        try:
            end = min(now, day_start(date.fromisoformat(until) + timedelta(days=1)))
        except ValueError:
            raise HTTPException(422, f"until must be a day as YYYY-MM-DD, not {until!r}") from None
    return end - timedelta(hours=span), end


@router.get("/devices/{mn}", response_class=HTMLResponse)
def device_page(
    request: Request,
    viewer: CurrentViewer,
    mn: str,
    factor: str | None = None,
    span: int = CHART_HOURS,
    until: str | None = None,
    sent: int | None = None,
) -> Response:
    return _render_device(request, viewer, mn, factor, span, until, sent=sent)


def _render_device(
    request: Request,
    viewer: Viewer,
    mn: str,
    factor: str | None = None,
    span: int = CHART_HOURS,
    until: str | None = None,
    *,
    sent: int | None = None,
    command_error: str | None = None,
    command_form: dict[str, str] | None = None,
) -> Response:
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        device_id = scope.device_id(conn, mn)  # 404 for a device out of scope, as for a missing one
    now = utcnow()
    start, end = _range(span, until, now)
    scope.require_period(start, end)
    factors = _factors(request, device_id, start, end)
    chosen = factor if factor in factors else (factors[0] if factors else None)
    locale = locale_of(request)
    hours: list[dict[str, Any]] = []
    with engine_of(request).connect() as conn:
        if chosen is not None:
            hours = device_hours(conn, settings_of(request), device_id, chosen, start, end, now)
        marks = _mark_rows(conn, device_id, start, end, locale)
    packets = read_packets(engine_of(request), PacketQuery(mn=mn, limit=PACKETS))
    recent = _recent_rtd(request, device_id, now) if scope.in_period(now) else []
    # an auditor reads only its period: commands are shown to the others (they are the device's log)
    commands = recent_commands(engine_of(request), device_id) if scope.period is None else []
    return render(
        request,
        "device.html",
        422 if command_error else 200,
        viewer=viewer,
        device=_device_row(request, device_id),
        factors=factors,
        factor=chosen,
        hours=hour_rows(hours, locale),
        n_invalid=sum(1 for h in hours if h["outcome"] == "invalid"),
        chart=None if chosen is None else chart_data(hours, chosen, _chart_labels(request)),
        marks=marks,
        packets=packets,
        latest=_newest(recent),
        live=live_data(recent, chosen, _chart_labels(request)["live"]),
        can_mark=scope.can_write("mark"),
        can_command=scope.can_write("command"),
        commands=commands,
        command_specs=list(SPECS.values()),
        command_labels=COMMAND_LABELS,
        command_states=COMMAND_STATES,
        command_error=command_error,
        command_form=command_form or {},
        sent=sent,
        source_labels=SOURCE_LABELS,
        outcome_labels=OUTCOME_LABELS,
        hours_span=span,
        spans=SPANS,
        until=until or "",
        range_start=start,
        range_end=end,
    )


@router.post("/devices/{mn}/commands", response_class=HTMLResponse)
async def send_command(request: Request, viewer: CurrentViewer, mn: str) -> Response:
    """A downlink command (下发命令) from the device page, through the API's service and scope order:
    404 for a device out of scope, 403 for a role that may not command, the service's error in the form."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    check_csrf(request, viewer, form.get("csrf_token"))
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        scope.device_id(conn, mn)
    scope.require_write("command")
    spec = SPECS.get(form.get("cn", ""))
    params = {} if spec is None else {p: form[p].strip() for p in spec.params if form.get(p, "").strip()}
    try:
        view = create_command(
            engine_of(request),
            mn=mn,
            cn=form.get("cn", ""),
            params=params,
            requested_by=viewer.principal.name,
            now=utcnow(),
        )
    except InvalidInput as exc:
        return _render_device(request, viewer, mn, command_error=exc.message, command_form=form)
    return RedirectResponse(f"/devices/{quote(mn)}?sent={view.id}#commands", status_code=303)


def _chart_labels(request: Request) -> dict[str, str]:
    """The chart's legend texts in the page language (the JS file has no catalog)."""
    gettext = translations(locale_of(request)).gettext
    return {
        "value": gettext("hourly value"),
        "invalid": gettext("invalid hour"),
        "live": gettext("real-time value"),
    }


@router.get("/devices/{mn}/latest", response_class=HTMLResponse)
def device_latest(request: Request, viewer: CurrentViewer, mn: str, factor: str | None = None) -> Response:
    """The latest values, online state and live chart data alone, for the page's htmx polling."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        device_id = scope.device_id(conn, mn)
    now = utcnow()
    recent = _recent_rtd(request, device_id, now) if scope.in_period(now) else []
    return render(
        request,
        "_device_latest.html",
        viewer=viewer,
        device=_device_row(request, device_id),
        factor=factor,
        latest=_newest(recent),
        live=live_data(recent, factor, _chart_labels(request)["live"]),
    )
