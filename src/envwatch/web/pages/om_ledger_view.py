"""What the ledger pages (一机一档, spare parts, emergency plans and drills) read and how they word it: the labels
of kinds, states, events and event types, the operators a viewer reads or writes for, the devices an event or a
move may name, and one file, part or drill checked like the API checks it.

Every scope rule is the JSON API's (``web.api.om_ledger``: ``ledger_operators``, ``require_equipment``,
``require_drill`` …), so a page never shows more than the API would; the lifecycle table
(``operations.equipment_lifecycle``) decides which events the file's form offers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Connection, select

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.operations.equipment_lifecycle import EQUIPMENT_TRANSITIONS, RECORDED_EVENTS
from envwatch.registry.schema import devices, operators
from envwatch.registry.service_operators import contracted_outlets
from envwatch.web.api import om_ledger as api
from envwatch.web.pages.i18n import N_
from envwatch.web.scope import Scope

KIND_LABELS = {
    "analyser": N_("Analyser"),
    "tool": N_("Tool"),
    "meter": N_("Measuring instrument"),
    "other": N_("Other equipment"),
}
STATE_LABELS = {
    "in_stock": N_("In stock"),
    "installed": N_("Installed"),
    "repairing": N_("Under repair"),
    "scrapped": N_("Scrapped"),
}
STATE_BADGES = {"in_stock": "info", "installed": "ok", "repairing": "bad", "scrapped": "info"}
EVENT_LABELS = {
    "purchased": N_("Purchased"),
    "installed": N_("Installed at a device"),
    "moved": N_("Moved to another device"),
    "removed": N_("Removed to the store"),
    "sent_to_repair": N_("Sent to repair"),
    "repaired": N_("Repaired"),
    "maintained": N_("Maintained"),
    "verified": N_("Verified / calibrated"),
    "scrapped": N_("Scrapped"),
}
VERIFICATION_LABELS = {
    "none": N_("No verification due"),
    "ok": N_("Verification valid"),
    "due": N_("Verification due soon"),
    "overdue": N_("Verification overdue"),
}
VERIFICATION_BADGES = {"none": "info", "ok": "ok", "due": "info", "overdue": "bad"}
# the list's verification filter
VERIFICATION_FILTERS = {
    "": N_("Any verification state"),
    "due": N_("Due soon or overdue"),
    "overdue": N_("Overdue"),
}
EVENT_TYPE_LABELS = {
    "device_failure": N_("Device failure"),
    "power_outage": N_("Power outage"),
    "network_outage": N_("Network outage"),
    "data_anomaly": N_("Data anomaly"),
    "exceedance": N_("Exceedance"),
    "safety_accident": N_("Safety accident"),
    "natural_disaster": N_("Natural disaster"),
    "other": N_("Other events"),
}
# the notice after a POST (?done=…)
DONE_LABELS = {
    "added": N_("The equipment file was opened."),
    "event": N_("The event was recorded."),
    "part": N_("The spare part was registered."),
    "move": N_("The move was recorded."),
    "plan": N_("The plan was recorded."),
    "drill": N_("The drill was recorded."),
    "attach": N_("The attachment was saved."),
}


def _not_found(exc: NotFound) -> HTTPException:
    # the API's NotFound would answer in JSON: a page shows its HTML 404 with the same message
    return HTTPException(404, exc.message)


def readable_operators(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The operators whose ledger the viewer reads (id, name), by name; 403 for a role that reads none (an
    enterprise: the ledger is the operator's own record)."""
    wanted = api.ledger_operators(scope)
    if wanted is not None and not wanted:
        if scope.role not in ("regulator", *api.OPERATOR_PEOPLE):
            raise HTTPException(403, f"role {scope.role} has no equipment ledger")
        return []
    query = select(operators.c.id, operators.c.name).order_by(operators.c.name, operators.c.id)
    if wanted is not None:
        query = query.where(operators.c.id.in_(sorted(wanted)))
    return [{"id": int(r.id), "name": str(r.name)} for r in conn.execute(query)]


def chosen_operator(text: str | None, readable: list[dict[str, Any]]) -> int | None:
    """The ``?operator=`` filter: None when not given, 404 for one the viewer does not read (like a missing
    one), 422 for a value that is not a number."""
    if not text:
        return None
    if not text.isdigit():
        raise HTTPException(422, f"operator must be an operator id, not {text!r}")
    if int(text) not in {o["id"] for o in readable}:
        raise HTTPException(404, f"no operator with id {text}")
    return int(text)


def writable_operators(scope: Scope, readable: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operators the viewer may record for: admin any, operator and field staff their own, else none."""
    if not scope.can_write("ledger"):
        return []
    if scope.role == "admin":
        return readable
    return [o for o in readable if o["id"] == scope.principal.operator_id]


def form_operator(scope: Scope, text: str) -> int:
    """The operator a page form records for: the one named (404 when not readable), else one's own; the
    ``ledger`` write (403) before the form's own errors (InvalidInput: no operator chosen)."""
    named: int | None = None
    if text.strip():
        if not text.strip().isdigit():
            raise HTTPException(422, f"operator_id must be an operator id, not {text!r}")
        named = int(text.strip())
    if named is None and scope.principal.operator_id is None:
        scope.require_write("ledger")
        raise InvalidInput("choose the operator the record belongs to")
    try:
        return api.write_operator(scope, named)
    except NotFound as exc:
        raise _not_found(exc) from None


def contracted_devices(conn: Connection, operator_id: int, on: date) -> list[dict[str, Any]]:
    """The data loggers on outlets under the operator's contracts in force on ``on`` (the store's rule for
    ``installed``, ``moved`` and a move's device), by MN."""
    outlet_ids = contracted_outlets(conn, operator_id, on, on)[0]
    if not outlet_ids:
        return []
    query = (
        select(devices.c.id, devices.c.mn, devices.c.name)
        .where(devices.c.outlet_id.in_(sorted(outlet_ids)))
        .order_by(devices.c.mn)
    )
    return [{"id": int(r.id), "mn": str(r.mn), "name": str(r.name or "")} for r in conn.execute(query)]


def form_device(conn: Connection, scope: Scope, text: str) -> int | None:
    """The device a form names by MN (empty: none); 404 when the viewer does not see it, as the API."""
    mn = text.strip()
    return None if not mn else scope.device_id(conn, mn)


def form_day(what: str, text: str, *, required: bool = True) -> date | None:
    """A ``YYYY-MM-DD`` form value; InvalidInput (shown in the form) when missing or unreadable."""
    value = text.strip()
    if not value:
        if required:
            raise InvalidInput(f"{what} is required")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a date such as 2026-11-21, not {value!r}") from None


def form_int(what: str, text: str) -> int:
    value = text.strip()
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number, not {value!r}") from None


def visible_equipment(conn: Connection, scope: Scope, equipment_id: int) -> dict[str, Any]:
    try:
        return api.require_equipment(conn, scope, equipment_id)
    except NotFound as exc:
        raise _not_found(exc) from None


def visible_part(conn: Connection, scope: Scope, part_id: int) -> dict[str, Any]:
    try:
        return api.require_part(conn, scope, part_id)
    except NotFound as exc:
        raise _not_found(exc) from None


def visible_plan(conn: Connection, scope: Scope, plan_id: int) -> dict[str, Any]:
    try:
        return api.require_plan(conn, scope, plan_id)
    except NotFound as exc:
        raise _not_found(exc) from None


def visible_drill(conn: Connection, scope: Scope, drill_id: int) -> dict[str, Any]:
    try:
        return api.require_drill(conn, scope, drill_id)
    except NotFound as exc:
        raise _not_found(exc) from None


def allowed_events(state: str) -> list[str]:
    """The events the file's form offers in ``state`` (the lifecycle table), in the table's event order."""
    allowed = EQUIPMENT_TRANSITIONS.get(state, {})  # type: ignore[call-overload]
    return [e for e in RECORDED_EVENTS if e in allowed]


def operator_names(readable: list[dict[str, Any]]) -> dict[int, str]:
    return {o["id"]: o["name"] for o in readable}
