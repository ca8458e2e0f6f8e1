"""What the alarm pages (报警) read and how they word it: the list's filters and counts, one alarm with its
journal and the values behind each detection, and which actions the state and the role allow.

Every read goes through ``alarms.store`` and the JSON API's own scope check (``web.api.alarms.require_alarm``:
an alarm of a device the viewer does not see, or for an auditor one opened outside its period, is "not found"
exactly like a missing one). The buttons come from ``alarms.lifecycle.TRANSITIONS``: an action is offered
only when the table has a row for it in the alarm's state and the role may work on alarms.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import quote, urlencode

from fastapi import HTTPException
from sqlalchemy import Connection, func, or_, select

from envwatch.alarms import store
from envwatch.alarms.lifecycle import PERSON_EVENTS, STATES, TRANSITIONS, State
from envwatch.alarms.schema import alarms
from envwatch.core.clock import to_china
from envwatch.core.errors import NotFound
from envwatch.monitoring.day_counts import day_start
from envwatch.registry.schema import devices
from envwatch.web.api.alarms import data_link, require_alarm
from envwatch.web.pages.device import SPANS
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.paging import PAGE_SIZE, Paged
from envwatch.web.pages.public_data import factor_name
from envwatch.web.scope import Scope

# the detection kinds (alarms.detectors.thresholds.KINDS, the offline watcher, missing hours) in words;
# a kind not listed here is shown as its code
KIND_LABELS = {
    "offline": N_("Device offline"),
    "missing_hour": N_("Hour data missing"),
    "exceedance": N_("Exceedance"),
    "marked_exceedance": N_("Exceedance in marked data (for audit)"),
    "ph_out_of_range": N_("pH out of range"),
    "constant": N_("Constant value"),
    "near_detection_limit": N_("Near the detection limit"),
    "zero_negative": N_("Zero or negative value"),
    "over_range": N_("Over the measuring range"),
    "jump": N_("Sudden jump"),
    "o2_dilution": N_("Oxygen near air (dilution)"),
    "flow_inconsistent": N_("Flow inconsistent with operation"),
    "power_inconsistent": N_("Power use inconsistent with emissions"),
    "parameter_changed": N_("Instrument parameter changed"),
    "shutdown_mark_with_flow": N_("Flow during a shutdown mark"),
}
STATE_LABELS = {
    "open": N_("Not acknowledged"),
    "acknowledged": N_("Acknowledged"),
    "handling": N_("Being handled"),
    "closed": N_("Closed"),
}
STATE_BADGES = {"open": "bad", "acknowledged": "info", "handling": "info", "closed": "ok"}
# the list's state filter: "active" (everything not closed) is the default
FILTER_LABELS = {
    "active": N_("Not closed"),
    "open": STATE_LABELS["open"],
    "acknowledged": STATE_LABELS["acknowledged"],
    "handling": STATE_LABELS["handling"],
    "closed": STATE_LABELS["closed"],
    "all": N_("All states"),
}
EVENT_LABELS = {
    "opened": N_("Raised"),
    "repeat": N_("Detected again"),
    "condition_ended": N_("Condition ended"),
    "escalate": N_("Escalated (not acknowledged in time)"),
    "acknowledge": N_("Acknowledged"),
    "start_handling": N_("Handling started"),
    "assign": N_("Assigned"),
    "comment": N_("Comment"),
    "attach": N_("Attachment added"),
    "close": N_("Closed"),
}
# the notice after a POST (?done=<event>)
DONE_LABELS = {
    "acknowledge": N_("The alarm was acknowledged."),
    "start_handling": N_("Handling of the alarm started."),
    "assign": N_("The alarm was assigned."),
    "comment": N_("The comment was added."),
    "close": N_("The alarm was closed."),
    "attach": N_("The attachment was added."),
}
# what a person may do on the page, in the order the forms are shown
PAGE_EVENTS = ("acknowledge", "start_handling", "assign", "comment", "close", "attach")
DETECTIONS = ("opened", "repeat")
_KIND_TEXT = re.compile(r"^[a-z0-9_]{1,32}$")
_HOUR = timedelta(hours=1)


# ---- the list ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilter:
    """The list's filters as the query string gives them (already checked)."""

    state: str = "active"
    kind: str = ""
    q: str = ""
    escalated: bool = False

    def states(self) -> frozenset[str] | None:
        if self.state == "all":
            return None
        if self.state == "active":
            return frozenset(s for s in STATES if s != "closed")
        return frozenset({self.state})

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The filter as pager / tile link parameters (empty ones left out)."""
        args = {
            "state": self.state,
            "kind": self.kind,
            "q": self.q,
            "escalated": "1" if self.escalated else "",
        }
        args.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in args.items() if v}


def read_filter(params: dict[str, str]) -> tuple[ListFilter, str | None]:
    """The filter of a query string, and the text of what was not understood (None when all was)."""
    state = params.get("state") or "active"
    kind = (params.get("kind") or "").strip()
    bad = []
    if state not in FILTER_LABELS:
        bad.append(f"state={state}")
        state = "active"
    if kind and not _KIND_TEXT.match(kind):
        bad.append(f"kind={kind}")
        kind = ""
    escalated = params.get("escalated", "") in ("1", "true", "on")
    q = (params.get("q") or "").strip()[:100]
    return ListFilter(state, kind, q, escalated), (", ".join(bad) or None)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def searched_devices(conn: Connection, scope: Scope, q: str) -> frozenset[int] | None:
    """The visible devices whose MN, enterprise or outlet name contains ``q`` (None: no search, every device
    of the scope)."""
    if not q:
        return scope.device_ids
    d = devices.c
    pattern = _like(q.casefold())
    found = conn.execute(
        select(d.id).where(
            or_(
                func.lower(d.mn).like(pattern, escape="\\"),
                func.lower(d.enterprise).like(pattern, escape="\\"),
                func.lower(d.outlet).like(pattern, escape="\\"),
            )
        )
    ).scalars()
    return frozenset(i for i in found if scope.sees_device(i))


def _query(scope: Scope, f: ListFilter, device_ids: frozenset[int] | None, **extra: Any) -> store.AlarmQuery:
    start, end = scope.period_bounds() or (None, None)  # an auditor lists the alarms opened in its period
    return store.AlarmQuery(
        device_ids=device_ids,
        kinds=[f.kind] if f.kind else None,
        opened_from=start,
        opened_to=end,
        escalated=True if f.escalated else None,
        **extra,
    )


def alarm_page(
    conn: Connection, scope: Scope, f: ListFilter, device_ids: frozenset[int] | None, page_text: str | None
) -> Paged:
    """One page (``PAGE_SIZE`` rows, newest first) of the alarms of ``device_ids`` (``searched_devices``)
    the filter picks."""
    try:
        page = min(max(1, int(page_text or "1")), 1_000_000)  # an absurd number must not overflow SQL
    except ValueError:
        page = 1
    q = _query(scope, f, device_ids, states=f.states(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows, total = store.list_alarms(conn, q)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if page > pages:  # past the end (the list shrank, or a typed number): the last page
        page = pages
        q = _query(scope, f, device_ids, states=f.states(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        rows, total = store.list_alarms(conn, q)
    return Paged(rows, page, pages, total, f.q)


def state_counts(
    conn: Connection, scope: Scope, f: ListFilter, device_ids: frozenset[int] | None
) -> dict[str, int]:
    """How many alarms of ``device_ids`` are in each state under the filter's other choices (kind,
    escalated), and how many of the not-closed ones escalated."""
    a = alarms.c
    where: list[Any] = []
    if device_ids is not None:
        where.append(a.device_id.in_(sorted(device_ids)))
    if f.kind:
        where.append(a.kind == f.kind)
    bounds = scope.period_bounds()
    if bounds is not None:
        where += [a.opened_at >= bounds[0], a.opened_at < bounds[1]]
    if f.escalated:
        where.append(a.escalated_at.is_not(None))
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    escalated = 0
    query = (
        select(a.state, (a.escalated_at.is_not(None)).label("esc"), func.count())
        .where(*where)
        .group_by(a.state, "esc")
    )
    for state, esc, n in conn.execute(query):
        counts[state] = counts.get(state, 0) + int(n)
        if esc and state != "closed":
            escalated += int(n)
    return {**counts, "escalated": escalated}


# ---- one alarm -----------------------------------------------------------------------------------------


def _moment(value: Any) -> datetime | Any:
    """An ISO time of the journal's JSON as a datetime (shown in China time); anything else as it is."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _excluded(entries: Any) -> list[dict[str, Any]]:
    """Excluded periods (start, end, mark) given as objects or as [start, end, mark] lists."""
    out = []
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict):
            start, end, mark = e.get("start"), e.get("end"), e.get("mark", "")
        elif isinstance(e, list | tuple) and len(e) >= 2:
            start, end, mark = e[0], e[1], e[2] if len(e) > 2 else ""
        else:
            continue
        out.append({"start": _moment(start), "end": _moment(end), "mark": mark})
    return out


def _points(entries: Any) -> list[dict[str, Any]]:
    out = []
    for p in entries if isinstance(entries, list) else []:
        if isinstance(p, list | tuple) and len(p) >= 2:
            out.append({"time": _moment(p[0]), "value": p[1]})
    return out


def journal_entry(event: dict[str, Any]) -> dict[str, Any]:
    """One journal row for the page: the row itself, and for a detection the values behind it."""
    data = event.get("data") or {}
    entry = {**event, "detection": None, "ended_at": None}
    if event["event"] == "condition_ended" and isinstance(data, dict):
        entry["ended_at"] = _moment(data.get("ended_at"))
    if event["event"] in DETECTIONS and isinstance(data, dict):
        entry["detection"] = {
            "started_at": _moment(data.get("started_at")),
            "ended_at": _moment(data.get("ended_at")),
            "peak": data.get("peak"),
            "limit": data.get("limit"),
            "multiple": data.get("multiple"),
            "points": _points(data.get("points")),
            "excluded": _excluded(data.get("excluded")),
        }
    return entry


def allowed_events(state: str, can_work: bool) -> list[str]:
    """The page's actions the lifecycle table allows in ``state``, for a role that may work on alarms."""
    if not can_work:
        return []
    allowed = set(TRANSITIONS.get(cast(State, state), {}))
    return [e for e in PAGE_EVENTS if e in allowed and e in PERSON_EVENTS]


def device_page_link(row: dict[str, Any], mn: str, now: datetime) -> str:
    """The device page over the alarm's period (an hour either side, as the JSON data link): the device
    page shows ``span`` hours up to the end of the China day ``until``, so take the day of the period's end
    and the shortest span it offers that reaches back to the start (the longest when none does)."""
    start = row["started_at"] - _HOUR
    end = min(now, (row["ended_at"] or row["last_detected_at"]) + _HOUR)
    day = to_china(end).date()
    shown_end = min(now, day_start(day + timedelta(days=1)))
    needed = (shown_end - start) / _HOUR
    span = next((s for s in SPANS if s >= needed), SPANS[-1])
    args: dict[str, Any] = {"span": span, "until": day.isoformat()}
    if row["factor"]:
        args["factor"] = row["factor"]
    return f"/devices/{quote(mn)}?{urlencode(args)}"


def visible_alarm(conn: Connection, scope: Scope, alarm_id: int) -> dict[str, Any]:
    """The alarm (the API's scope check); a page 404 for a missing or out-of-scope one alike."""
    try:
        return require_alarm(conn, scope, alarm_id)
    except NotFound:
        raise HTTPException(404, f"no alarm with id {alarm_id}") from None


def alarm_detail(conn: Connection, scope: Scope, alarm_id: int, now: datetime) -> dict[str, Any]:
    """The cover sheet, the journal (oldest first), the attachments and the data links of one alarm."""
    row = visible_alarm(conn, scope, alarm_id)
    names = store.device_names(conn, row["device_id"])
    return {
        "alarm": {**row, **names},
        "journal": [journal_entry(e) for e in store.alarm_events_of(conn, alarm_id)],
        "attachments": store.alarm_attachments(conn, alarm_id),
        "device_link": device_page_link(row, names["mn"], now),
        "data_link": data_link(row, names["mn"]),
        "ack_overdue": row["state"] == "open" and row["ack_due_at"] <= now,
    }


def factor_text(code: str, locale: str) -> str:
    """A factor's name from the HJ 212 code table, empty when the table does not name it."""
    if not code:
        return ""
    name = factor_name(code, locale)
    return "" if name == code else name
