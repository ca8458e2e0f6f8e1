"""What the fault (故障) and production-stop (停产) pages read and how they word it: the lists with their clock
badges, one fault or stop with the forms its state and the viewer's role allow, and the pickers of the forms.

Every read goes through ``operations.faults`` / ``operations.production_stops`` and the JSON API's own scope
rules (``web.api.om_faults``: ``require_fault`` / ``require_stop``, 404 exactly like a missing one). Which
forms are offered comes from the lifecycle tables (``FAULT_TRANSITIONS``, ``STOP_TRANSITIONS``) and the
scope's write kinds, never from a second copy of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy import Connection, select

from envwatch.alarms.store import device_names
from envwatch.core.clock import to_china
from envwatch.core.errors import NotFound
from envwatch.core.workdays import WorkdayCalendar
from envwatch.operations import faults as store
from envwatch.operations import production_stops as stops
from envwatch.operations.fault_clocks import Clock, FaultRules
from envwatch.operations.fault_lifecycle import FAULT_TRANSITIONS
from envwatch.operations.stop_lifecycle import STOP_TRANSITIONS
from envwatch.registry.schema import devices, enterprises, outlets
from envwatch.web.api import om_faults as api
from envwatch.web.api.alarms import require_alarm
from envwatch.web.pages.forms import form_time
from envwatch.web.pages.i18n import N_, locale_of
from envwatch.web.pages.paging import PAGE_SIZE, Paged
from envwatch.web.pages.public_data import factor_name
from envwatch.web.scope import Scope

FAULT_STATE_LABELS = {
    "open": N_("Device down"),
    "on_backup": N_("On backup"),
    "restored": N_("Restored"),
}
FAULT_STATE_BADGES = {"open": "bad", "on_backup": "info", "restored": "ok"}
FAULT_EVENT_LABELS = {
    "opened": N_("Fault opened"),
    "backup_started": N_("Backup started"),
    "backup_checked": N_("Backup checked (comparison)"),
    "backup_ended": N_("Backup ended"),
    "restored": N_("Device restored"),
    "commented": N_("Comment"),
}
BACKUP_KIND_LABELS = {
    "backup_device": N_("Backup device"),
    "manual": N_("Manual monitoring"),
}
CLOCK_LABELS = {
    "backup_required": N_("Backup or manual monitoring after 24 h"),
    "restore": N_("Restore within 5 working days"),
    "backup_check": N_("Check of a backup used more than 7 days"),
    "backup_max": N_("Backup at most 30 days"),
}
CLOCK_STATE_LABELS = {
    "not_applicable": N_("Not applicable"),
    "running": N_("Running"),
    "met": N_("Met"),
    "overdue": N_("Overdue"),
    "breached": N_("Met late"),
}
CLOCK_BADGES = {"not_applicable": "info", "running": "info", "met": "ok", "overdue": "bad", "breached": "bad"}
STOP_STATE_LABELS = {
    "submitted": N_("Submitted, awaiting approval"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "restarted": N_("Restarted"),
}
STOP_STATE_BADGES = {
    "submitted": "info",
    "approved": "ok",
    "rejected": "bad",
    "withdrawn": "info",
    "restarted": "ok",
}
STOP_EVENT_LABELS = {
    "submitted": N_("Reported"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "restarted": N_("Production restarted"),
}
CHECK_STATE_LABELS = {
    "running": N_("Calibration due"),
    "met": N_("Every device calibrated"),
    "overdue": N_("Calibration overdue"),
}
QUARTER_NOTES = {
    "gas_keep_running": N_(
        "A stop of at most one quarter: the gas monitoring devices keep running during it (SX-18.4)."
    ),
    "gas_may_stop": N_(
        "A stop longer than one quarter: the gas monitoring devices need not keep running (SX-18.4)."
    ),
}
# the notice after a POST (?done=<what>)
DONE_LABELS = {
    "opened": N_("The fault was recorded."),
    "backup_started": N_("The backup was recorded."),
    "backup_checked": N_("The check of the backup was recorded."),
    "backup_ended": N_("The end of the backup was recorded."),
    "restored": N_("The restore was recorded and the fault period marked."),
    "commented": N_("The comment was added."),
    "results": N_("The manual monitoring results were stored."),
    "result_corrected": N_("The correction of the manual result was recorded."),
    "result_withdrawn": N_("The manual result was withdrawn."),
    "submitted": N_("The production stop was reported."),
    "approved": N_("The production stop was approved and marked."),
    "rejected": N_("The production stop was rejected."),
    "withdrawn": N_("The production stop report was withdrawn."),
    "restarted": N_("The restart was recorded."),
}
# the event forms of the fault page, in the order shown
FAULT_FORMS = ("backup_started", "backup_checked", "backup_ended", "restored", "commented")
_FACT_FIELD = {
    "backup_started": "backup_started_at",
    "backup_checked": "backup_checked_at",
    "backup_ended": "backup_ended_at",
    "restored": "restored_at",
}
PICK_MAX = 500  # devices / outlets offered in a picker
STOPS_SHOWN = PAGE_SIZE  # stop reports under the faults on the list page


def page_labels(request: Request) -> dict[str, Any]:
    """The wording every fault and stop page uses."""
    locale = locale_of(request)
    return {
        "fault_state_labels": FAULT_STATE_LABELS,
        "fault_state_badges": FAULT_STATE_BADGES,
        "fault_event_labels": FAULT_EVENT_LABELS,
        "backup_kind_labels": BACKUP_KIND_LABELS,
        "clock_labels": CLOCK_LABELS,
        "clock_state_labels": CLOCK_STATE_LABELS,
        "clock_badges": CLOCK_BADGES,
        "stop_state_labels": STOP_STATE_LABELS,
        "stop_state_badges": STOP_STATE_BADGES,
        "stop_event_labels": STOP_EVENT_LABELS,
        "remaining": remaining,
        "factor_text": lambda code: factor_name(code, locale) if code else "",
        "local_seconds": local_seconds,
    }


def local_seconds(moment: datetime) -> str:
    """A time as a datetime-local value to the second (China time): a correction form keeps the
    sampling time exactly as stored unless it is changed."""
    return to_china(moment).strftime("%Y-%m-%dT%H:%M:%S")


def remaining(delta: timedelta | None) -> dict[str, Any] | None:
    """A clock's time left (or late) in whole days, hours and minutes, for the page's wording."""
    if delta is None:
        return None
    late = delta < timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    return {"late": late, "days": minutes // 1440, "hours": minutes % 1440 // 60, "minutes": minutes % 60}


# ---- faults ----


def visible_fault(conn: Connection, scope: Scope, fault_id: int) -> dict[str, Any]:
    """The fault, or the page's 404 (the API's ``require_fault``: missing and out of scope alike)."""
    try:
        return api.require_fault(conn, scope, fault_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


@dataclass(frozen=True)
class FaultRow:
    fault: dict[str, Any]
    clocks: list[Clock] | None  # None: the calendar does not cover the year

    @property
    def overdue(self) -> bool:
        return any(c.state == "overdue" for c in self.clocks or [])


def fault_list(
    conn: Connection,
    scope: Scope,
    page_text: str | None,
    now: datetime,
    rules: FaultRules,
    calendar: WorkdayCalendar,
) -> tuple[Paged, int]:
    """One page of the visible faults, open ones first, each with its clocks; and how many are open."""
    seen = store.FaultQuery(device_ids=scope.device_ids, limit=1)
    _rows, total = store.list_faults(conn, seen)
    open_count = store.list_faults(
        conn, store.FaultQuery(device_ids=scope.device_ids, states=["open", "on_backup"], limit=1)
    )[1]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    try:
        page = min(max(int(page_text or "1"), 1), pages)
    except ValueError:
        page = 1
    q = store.FaultQuery(device_ids=scope.device_ids, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows, _total = store.list_faults(conn, q)
    shown = [
        FaultRow(r, api.clocks_or_none(r, now, rules, calendar)) for r in rows if api.sees_fault(scope, r)
    ]
    return Paged(shown, page, pages, total, ""), open_count


def fault_forms(scope: Scope, fault: dict[str, Any]) -> list[str]:
    """The event forms the fault's state allows and the viewer may send (the ``fault`` write): each fact
    only while it is not recorded yet; ``results`` (manual monitoring results) while a manual backup runs."""
    if not scope.can_write("fault"):
        return []
    allowed = FAULT_TRANSITIONS[fault["state"]]
    forms: list[str] = [
        e for e in FAULT_FORMS if e in allowed and (e not in _FACT_FIELD or fault[_FACT_FIELD[e]] is None)
    ]
    if fault["state"] == "on_backup" and fault["backup_kind"] == "manual":
        forms.append("results")
    return forms


def visible_result(conn: Connection, fault_id: int, result_id: int) -> dict[str, Any]:
    """A manual result of that (visible) fault, or the page's 404 (the API's ``require_result``)."""
    try:
        return api.require_result(conn, fault_id, result_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


def result_draft(values: dict[str, str]) -> store.ManualResultIn:
    """The corrected result of the correction form (every field is sent, prefilled; the time China time)."""
    return store.ManualResultIn(
        factor=values["factor"],
        sampled_at=form_time("sampled_at", values["sampled_at"]),
        value=values["value"],
        unit=values["unit"],
        agency=values["agency"],
        report_no=values["report_no"],
    )


def fault_detail(
    conn: Connection, scope: Scope, fault_id: int, now: datetime, rules: FaultRules, calendar: WorkdayCalendar
) -> dict[str, Any]:
    visible_fault(conn, scope, fault_id)
    return store.fault_view(conn, fault_id, now, rules, calendar)


def writable_devices(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The devices a fault may be opened on: those the viewer sees, on an outlet, by enterprise and MN."""
    d = devices.c
    query = (
        select(d.id, d.mn, d.enterprise, d.outlet, d.name)
        .where(d.outlet_id.is_not(None))
        .order_by(d.enterprise, d.outlet, d.mn)
    )
    if scope.device_ids is not None:
        if not scope.device_ids:
            return []
        query = query.where(d.id.in_(sorted(scope.device_ids)))
    return [dict(r) for r in conn.execute(query.limit(PICK_MAX)).mappings()]


def alarm_prefill(conn: Connection, scope: Scope, alarm_id: int) -> dict[str, Any]:
    """The new-fault form filled from an alarm (``?alarm=ID``): its device, start, summary and factor; the
    page's 404 when the viewer does not see it."""
    try:
        alarm = require_alarm(conn, scope, alarm_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    return {**alarm, **device_names(conn, alarm["device_id"])}


# ---- production stops ----


def visible_stop(conn: Connection, scope: Scope, stop_id: int) -> dict[str, Any]:
    try:
        return api.require_stop(conn, scope, stop_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


def stop_list(conn: Connection, scope: Scope) -> tuple[list[dict[str, Any]], int]:
    """The latest visible stop reports (at most ``STOPS_SHOWN``) and how many there are."""
    rows, total = stops.list_stops(conn, stops.StopQuery(outlet_ids=scope.outlet_ids, limit=STOPS_SHOWN))
    return [r for r in rows if api.sees_stop(scope, r)], total


def stop_forms(scope: Scope, stop: dict[str, Any], now: datetime) -> list[str]:
    """The forms of the stop page: the decision (admin, regulators of the region) while it waits; the
    withdrawal (admin, the enterprise) while it waits or before an approved stop starts; the restart after
    an approved stop has started."""
    allowed = STOP_TRANSITIONS[stop["state"]]
    forms: list[str] = []
    if scope.can_write("production_stop_review") and "approved" in allowed:
        forms.append("decision")
    if scope.can_write("production_stop"):
        if "withdrawn" in allowed and (stop["state"] == "submitted" or now < stop["start_at"]):
            forms.append("withdraw")
        if "restarted" in allowed and now > stop["start_at"]:
            forms.append("restart")
    return forms


def stop_detail(
    conn: Connection, scope: Scope, stop_id: int, now: datetime, check_within_days: int
) -> dict[str, Any]:
    visible_stop(conn, scope, stop_id)
    return stops.stop_view(conn, stop_id, now, check_within_days=check_within_days)


def writable_outlets(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The outlets a stop may be reported for: those the viewer sees, with their enterprise's name."""
    o, n = outlets.c, enterprises.c
    query = (
        select(o.id, o.code, o.name, o.kind, o.enterprise_id, n.name.label("enterprise_name"))
        .join(enterprises, n.id == o.enterprise_id)
        .order_by(n.name, o.code)
    )
    if scope.outlet_ids is not None:
        if not scope.outlet_ids:
            return []
        query = query.where(o.id.in_(sorted(scope.outlet_ids)))
    return [dict(r) for r in conn.execute(query.limit(PICK_MAX)).mappings()]
