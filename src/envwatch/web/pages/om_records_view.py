"""What the field-record pages read and how they word it: labels, the list with its filters, the pickers of
the record form (devices, people, materials, factors), the form's fields turned into a payload and back.

Every read goes through the stores (``operations.records``, ``record_due``, ``materials``,
``registrations``) and the JSON API's scope rules (``web.api.om_records``: ``record_query`` for lists,
``require_record`` for one record, 404 exactly like a missing one), never a second copy of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy import Connection, select

from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.operations import field_kinds as kinds
from envwatch.operations import materials as mat
from envwatch.operations.qa_limits import QaLimits
from envwatch.operations.record_due import comparison_due, devices_under_contract, inspection_due
from envwatch.operations.records import list_records
from envwatch.operations.staff_schema import staff
from envwatch.registry.schema import device_factors, devices, enterprises, outlets
from envwatch.web.api import om_records as api
from envwatch.web.api.common import parse_time
from envwatch.web.pages.i18n import N_, locale_of
from envwatch.web.pages.paging import PAGE_SIZE, Paged
from envwatch.web.pages.public_data import factor_name
from envwatch.web.scope import Scope

KIND_LABELS = {
    "inspection": N_("Inspection"),
    "calibration": N_("Calibration"),
    "standard_check": N_("Standard-sample check"),
    "comparison": N_("Comparison monitoring"),
    "consumable": N_("Consumables and reagents"),
    "repair": N_("Repair"),
    "parameter_change": N_("Parameter change"),
    "waste_liquid": N_("Waste liquid"),
}
VERDICT_LABELS = {"pass": N_("Passed"), "fail": N_("Failed"), "none": N_("Recorded")}
VERDICT_BADGES = {"pass": "ok", "fail": "bad", "none": "info"}
ON_SITE_LABELS = {"yes": N_("Signed in on site"), "no": N_("Off site"), "unknown": N_("No position")}
ON_SITE_BADGES = {"yes": "ok", "no": "bad", "unknown": "info"}
CRITERION_LABELS = {
    "absolute": N_("absolute error"),
    "relative": N_("relative error (per cent)"),
    "relative_accuracy": N_("relative accuracy (per cent)"),
}
DONE_LABELS = {
    "added": N_("The record was saved."),
    "corrected": N_("The correction was saved as a new version of the record."),
    "photo": N_("The file was added to the record."),
}
# the inspection checklist offered (each label translated when shown; what is stored is the text shown)
CHECKLIST = {
    "gas": (
        N_("Sampling probe and lines"),
        N_("Heated line temperature"),
        N_("Analyser state and alarms"),
        N_("Data logger communication"),
        N_("Shelter temperature and humidity"),
        N_("Standard gas pressure and validity"),
        N_("Access control and video"),
    ),
    "water": (
        N_("Sampling pump and pipes"),
        N_("Reagents: quantity and validity"),
        N_("Analyser state and alarms"),
        N_("Sample keeper"),
        N_("Data logger communication"),
        N_("Shelter environment"),
        N_("Waste liquid container"),
    ),
}
EXTRA_ITEMS = 2  # free checklist lines under the offered ones
CONSUMABLE_ROWS = 4
PICK_MAX = 500
PHOTOS_MAX = 5
FILTER_KINDS = ("", *kinds.KINDS)
FILTER_VERDICTS = ("", "pass", "fail", "none")


def labels(request: Request) -> dict[str, Any]:
    locale = locale_of(request)
    return {
        "kind_labels": KIND_LABELS,
        "verdict_labels": VERDICT_LABELS,
        "verdict_badges": VERDICT_BADGES,
        "on_site_labels": ON_SITE_LABELS,
        "on_site_badges": ON_SITE_BADGES,
        "criterion_labels": CRITERION_LABELS,
        "factor_text": lambda code: f"{factor_name(code, locale)} ({code})" if code else "",
    }


def not_found(exc: NotFound) -> HTTPException:
    # the API's NotFound would answer in JSON: a page shows its HTML 404 with the same message
    return HTTPException(404, exc.message)


# ---- the list ------------------------------------------------------------------------------------------


def read_filters(params: Mapping[str, str]) -> dict[str, str]:
    """The list's filters as typed (unknown values are refused by the store, shown in the page)."""
    keys = ("mn", "kind", "verdict", "on_site", "from", "to", "all", "page")
    return {k: params.get(k, "").strip() for k in keys}


def record_list(conn: Connection, scope: Scope, f: Mapping[str, str]) -> Paged:
    """One page (``PAGE_SIZE``) of the records the scope sees, newest work first, with the filters."""
    query = api.record_query(
        scope,
        kinds=[f["kind"]] if f["kind"] else None,
        verdict=f["verdict"] or None,
        on_site=f["on_site"] or None,
        since=_day_start(f["from"], "from"),
        until=_day_start(f["to"], "to", next_day=True),
        current_only=f["all"] != "1",
        limit=PAGE_SIZE,
    )
    if f["mn"]:
        found = conn.execute(select(devices.c.id).where(devices.c.mn == f["mn"])).scalar()
        seen = query.device_ids
        wanted = [found] if found is not None and (seen is None or found in seen) else []
        query = replace(query, device_ids=wanted)
    try:
        page = max(int(f["page"] or "1"), 1)
    except ValueError:
        page = 1
    _rows, total = list_records(conn, replace(query, limit=1))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows, total = list_records(conn, replace(query, offset=(page - 1) * PAGE_SIZE))
    return Paged(rows, page, pages, total, "")


def _day_start(text: str, name: str, *, next_day: bool = False) -> datetime | None:
    """A date (or datetime-local) filter as the UTC instant it starts; ``to`` includes its whole day."""
    if not text:
        return None
    try:
        moment = parse_time(name, text if "T" in text else f"{text}T00:00:00")
    except HTTPException as exc:
        raise InvalidInput(str(exc.detail)) from None
    if moment is not None and next_day and "T" not in text:
        moment += timedelta(days=1)
    return moment


def due_lists(
    conn: Connection, scope: Scope, now: datetime, every_days: int
) -> dict[str, list[dict[str, Any]]]:
    """Inspections and comparisons due for an operator's people (their operator's devices)."""
    operator = api.own_operator(scope)
    if operator is None or scope.role == "auditor":
        return {"inspection": [], "comparison": []}
    return {
        "inspection": inspection_due(conn, operator, now, every_days),
        "comparison": comparison_due(conn, operator, now),
    }


# ---- one record -----------------------------------------------------------------------------------------


def visible_record(conn: Connection, scope: Scope, record_id: int) -> dict[str, Any]:
    try:
        return api.require_record(conn, scope, record_id)
    except NotFound as exc:
        raise not_found(exc) from None


# ---- the record form's pickers --------------------------------------------------------------------------


def writable_devices(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Devices on an outlet that the viewer sees (an operator's people: under their contracts today)."""
    query = (
        select(
            devices.c.id,
            devices.c.mn,
            devices.c.kind,
            outlets.c.name.label("outlet_name"),
            enterprises.c.name.label("enterprise_name"),
        )
        .join(outlets, outlets.c.id == devices.c.outlet_id)
        .join(enterprises, enterprises.c.id == outlets.c.enterprise_id)
        .order_by(enterprises.c.name, outlets.c.name, devices.c.mn)
    )
    if scope.device_ids is not None:
        if not scope.device_ids:
            return []
        query = query.where(devices.c.id.in_(sorted(scope.device_ids)))
    return [dict(r) for r in conn.execute(query.limit(PICK_MAX)).mappings()]


def device_for_form(conn: Connection, scope: Scope, mn: str) -> dict[str, Any]:
    """The device of the form's second step, among the writable ones; the page's 404 otherwise."""
    for row in writable_devices(conn, scope):
        if row["mn"] == mn:
            return row
    raise HTTPException(404, f"no device with MN {mn}")


def operators_for(conn: Connection, scope: Scope, device: Mapping[str, Any], today: Any) -> list[int]:
    """The operators whose people may be named: one's own, or (admin) every operator with a contract
    covering the device's outlet today."""
    own = api.own_operator(scope)
    if own is not None:
        return [own]
    return sorted(
        {
            p["operator_id"]
            for p in devices_under_contract(conn, None, today)
            if p["device_id"] == device["id"]
        }
    )


def people(conn: Connection, operator_ids: list[int]) -> list[dict[str, Any]]:
    if not operator_ids:
        return []
    query = (
        select(staff.c.id, staff.c.name, staff.c.operator_id, staff.c.username)
        .where(staff.c.operator_id.in_(operator_ids), staff.c.active.is_(True))
        .order_by(staff.c.name, staff.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def usable_materials(conn: Connection, operator_ids: list[int], today: Any) -> list[dict[str, Any]]:
    return mat.list_materials(conn, operator_ids, today) if operator_ids else []


def factor_choices(conn: Connection, device: Mapping[str, Any], kind: str, limits: QaLimits) -> list[str]:
    """The factors offered for a judged kind: the device's registered factors that have a criterion for
    it, else every factor with one for a device of its kind."""
    tables: dict[str, Mapping[str, Any]] = {
        "calibration": limits.calibration,
        "standard_check": limits.standard_check,
        "comparison": limits.comparison,
        "parameter_change": limits.calibration,
    }
    table = tables.get(kind, {})
    registered = conn.execute(
        select(device_factors.c.factor)
        .where(device_factors.c.device_id == device["id"])
        .order_by(device_factors.c.factor)
    ).scalars()
    mine = [f for f in registered if f in table]
    if mine:
        return mine
    prefix = "a" if device["kind"] == "gas" else "w"
    return sorted(f for f in table if f.startswith(prefix))


def pair_rows(device: Mapping[str, Any], limits: QaLimits) -> int:
    """Lines for data pairs: the most any factor of the device's kind needs, and two more."""
    needed = [c.min_pairs for c in limits.comparison.values() if c.kind == device["kind"]] or [3]
    return max(needed) + 2


# ---- form fields ↔ payload --------------------------------------------------------------------------------

SIMPLE_FIELDS = {
    "calibration": ("factor", "zero_reference", "zero_reading", "span_reference", "span_reading", "mode"),
    "standard_check": ("factor", "standard_value", "measured_value"),
    "repair": ("part", "symptom", "action", "result"),
    "parameter_change": ("parameter", "before", "after", "reason", "factor"),
    "waste_liquid": ("volume", "unit", "handler", "manifest_no"),
}


def _rows(form: Mapping[str, str], prefix: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """Indexed lines ``<prefix><field>_<n>``, in order, the blank ones left out."""
    out = []
    n = 0
    while any(f"{prefix}{f}_{n}" in form for f in fields):
        line = {f: form.get(f"{prefix}{f}_{n}", "").strip() for f in fields}
        if any(line.values()):
            out.append(line)
        n += 1
    return out


def payload_from_form(kind: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The payload a posted form describes (the store checks it: a blank required field is named there)."""
    if kind == "inspection":
        items = []
        for line in _rows(form, "i_", ("item", "ok", "note")):
            if line["item"]:
                items.append({"item": line["item"], "ok": line["ok"] != "0", "note": line["note"]})
        return {"items": items}
    if kind == "comparison":
        pairs = [{"automatic": p["auto"], "reference": p["ref"]} for p in _rows(form, "p_", ("auto", "ref"))]
        return {
            "factor": form.get("factor", "").strip(),
            "pairs": pairs,
            "reference_method": form.get("reference_method", "").strip(),
            "reference_agency": form.get("reference_agency", "").strip(),
        }
    if kind == "consumable":
        return {
            "items": [line for line in _rows(form, "c_", ("name", "quantity", "unit", "lot")) if line["name"]]
        }
    payload: dict[str, Any] = {f: form.get(f, "").strip() for f in SIMPLE_FIELDS.get(kind, ())}
    if kind == "parameter_change" and not payload["factor"]:
        payload["factor"] = None
    return payload


def form_from_record(row: Mapping[str, Any]) -> dict[str, str]:
    """The form values of a stored record (the correction form starts from them)."""
    p = row["payload"]
    v: dict[str, str] = {
        "performed_at": to_china(row["performed_at"]).strftime("%Y-%m-%dT%H:%M"),
        "staff_id": str(row["staff_id"]),
        "note": "",
    }
    kind = row["kind"]
    if kind == "inspection":
        for n, item in enumerate(p.get("items", [])):
            v |= {
                f"i_item_{n}": item["item"],
                f"i_ok_{n}": "1" if item["ok"] else "0",
                f"i_note_{n}": item.get("note", ""),
            }
    elif kind == "comparison":
        v |= {k: str(p.get(k, "")) for k in ("factor", "reference_method", "reference_agency")}
        for n, pair in enumerate(p.get("pairs", [])):
            v |= {f"p_auto_{n}": str(pair["automatic"]), f"p_ref_{n}": str(pair["reference"])}
    elif kind == "consumable":
        for n, item in enumerate(p.get("items", [])):
            v |= {f"c_{k}_{n}": str(item.get(k, "")) for k in ("name", "quantity", "unit", "lot")}
    else:
        v |= {f: "" if p.get(f) is None else str(p[f]) for f in SIMPLE_FIELDS.get(kind, ())}
    return v


def inspection_lines(device: Mapping[str, Any], v: Mapping[str, str], translate: Any) -> list[dict[str, str]]:
    """The checklist lines of the form: the values kept (a re-shown or correction form), else the offered
    items (translated) and ``EXTRA_ITEMS`` free lines."""
    kept = [line for line in _rows(v, "i_", ("item", "ok", "note")) if line["item"]]
    if kept:
        lines = [{**line, "ok": line["ok"] or "1", "free": ""} for line in kept]
    else:
        offered = CHECKLIST.get(str(device["kind"]), CHECKLIST["gas"])
        lines = [{"item": translate(label), "ok": "1", "note": "", "free": ""} for label in offered]
    lines += [{"item": "", "ok": "1", "note": "", "free": "1"} for _ in range(EXTRA_ITEMS)]
    return lines
