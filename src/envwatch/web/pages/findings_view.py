"""What the findings pages show (合规问题): labels, the names of what findings are about, and each evidence
link (``compliance.rules.Link``) turned into a link to the page that shows it.

A link goes to the platform's page for the thing (``/om/faults/12``, ``/alarms/3``, ``/evidence/videos/5``…)
when one exists; kinds without a page of their own (a certificate, a manual result) are shown as text. The
target page checks visibility itself, as every page does; subject links (device, outlet, agency) are only
offered when the viewer's scope sees the subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode

from sqlalchemy import Connection, select

from envwatch.registry.agencies_schema import agencies
from envwatch.registry.schema import devices, enterprises, operators, outlets
from envwatch.sampling.schema import samples
from envwatch.web.pages.i18n import N_
from envwatch.web.scope import Scope

STATE_LABELS: Final = {"open": N_("Open"), "resolved": N_("Resolved"), "waived": N_("Waived")}
STATE_BADGES: Final = {"open": "bad", "resolved": "ok", "waived": "info"}
# the list's state filter: the open ones by default
FILTER_LABELS: Final = {
    "open": N_("Open"),
    "waived": N_("Waived"),
    "resolved": N_("Resolved"),
    "all": N_("All states"),
}
SEVERITY_LABELS: Final = {"violation": N_("Violation"), "warning": N_("Warning")}
SUBJECT_LABELS: Final = {
    "enterprise": N_("Enterprise"),
    "outlet": N_("Outlet"),
    "device": N_("Device"),
    "operator": N_("Operator"),
    "agency": N_("Testing agency"),
}
EVENT_LABELS: Final = {
    "opened": N_("Finding opened"),
    "resolved": N_("Resolved"),
    "reopened": N_("Reopened"),
    "waived": N_("Waived"),
    "unwaived": N_("Waiver withdrawn"),
}
DONE_LABELS: Final = {
    "waived": N_("The finding is waived."),
    "unwaived": N_("The waiver is withdrawn: the finding is open again."),
}
LINK_LABELS: Final = {
    "device": N_("Device"),
    "outlet": N_("Outlet"),
    "enterprise": N_("Enterprise"),
    "operator": N_("Operator"),
    "agency": N_("Testing agency"),
    "fault": N_("Fault"),
    "alarm": N_("Alarm"),
    "mark": N_("Mark"),
    "record": N_("O&M record"),
    "ticket": N_("Service ticket"),
    "stop": N_("Production stop"),
    "filing": N_("Filing"),
    "material": N_("Reference material"),
    "staff": N_("Staff member"),
    "certificate": N_("Certificate"),
    "training": N_("Training"),
    "drill": N_("Emergency drill"),
    "plan": N_("Emergency plan"),
    "video": N_("Video record"),
    "sample": N_("Sample"),
    "sampling_plan": N_("Sampling plan"),
    "self_inspection_report": N_("Self-inspection report"),
    "manual_result": N_("Manual monitoring result"),
    "rate": N_("Transmission rates"),
    "audit_day": N_("Daily audit"),
}
# evidence kinds whose page is /<path>/<ref> (ref an id)
_BY_ID: Final = {
    "outlet": "/outlets/",
    "agency": "/sampling/agencies/",
    "fault": "/om/faults/",
    "alarm": "/alarms/",
    "record": "/om/records/",
    "ticket": "/om/tickets/",
    "stop": "/om/stops/",
    "filing": "/filings/",
    "staff": "/om/staff/",
    "training": "/om/trainings/",
    "drill": "/om/emergency/drills/",
    "video": "/evidence/videos/",
    "sampling_plan": "/sampling/plans/",
    "self_inspection_report": "/om/self-inspection/",
}
# evidence kinds shown on a list page (no page of their own)
_LISTED: Final = {"mark": "/marks", "material": "/om/materials", "plan": "/om/emergency"}


@dataclass
class Names:
    """Display names by id of what a page's findings mention (device: its MN and name)."""

    enterprise: dict[int, str] = field(default_factory=dict)
    outlet: dict[int, str] = field(default_factory=dict)
    device: dict[int, tuple[str, str]] = field(default_factory=dict)  # id → (mn, name)
    operator: dict[int, str] = field(default_factory=dict)
    agency: dict[int, str] = field(default_factory=dict)
    sample: dict[int, str] = field(default_factory=dict)  # id → code

    def subject(self, kind: str, subject_id: int) -> str:
        if kind == "device":
            mn, name = self.device.get(subject_id, (str(subject_id), ""))
            return f"{name} ({mn})" if name and name != mn else mn
        table: dict[int, str] = getattr(self, kind, {})
        return table.get(subject_id, f"#{subject_id}")


def _ids(rows: Iterable[dict[str, Any]], column: str, kind: str) -> set[int]:
    found = {r[column] for r in rows if r.get(column) is not None}
    for r in rows:
        for link in r.get("evidence") or ():
            if link.get("kind") == kind and str(link.get("ref", "")).isdigit():
                found.add(int(link["ref"]))
    return found


def names_of(conn: Connection, rows: list[dict[str, Any]]) -> Names:
    """One query per kind for the names ``rows`` (findings) need."""
    names = Names()
    for attr, table, column in (
        ("enterprise", enterprises, "enterprise_id"),
        ("outlet", outlets, "outlet_id"),
        ("operator", operators, "operator_id"),
        ("agency", agencies, "agency_id"),
    ):
        ids = _ids(rows, column, attr)
        if ids:
            query = select(table.c.id, table.c.name).where(table.c.id.in_(ids))
            setattr(names, attr, {r.id: r.name for r in conn.execute(query)})
    device_ids = _ids(rows, "device_id", "device")
    if device_ids:
        query = select(devices.c.id, devices.c.mn, devices.c.name).where(devices.c.id.in_(device_ids))
        names.device = {r.id: (r.mn, r.name or r.mn) for r in conn.execute(query)}
    sample_ids = _ids(rows, "__none__", "sample")
    if sample_ids:
        query = select(samples.c.id, samples.c.code).where(samples.c.id.in_(sample_ids))
        names.sample = {r.id: r.code for r in conn.execute(query)}
    return names


def _rate_href(ref: str) -> str | None:
    """``device:<mn>:<first>..<last>`` (or another group) → the rates page over those days."""
    try:
        group, _what, days = ref.split(":", 2)
        first, last = days.split("..")
    except ValueError:
        return None
    return "/rates?" + urlencode({"from": first, "to": last, "group": group})


def evidence_href(kind: str, ref: str, names: Names) -> str | None:
    """The page showing one evidence link, or None when there is none."""
    if kind in _BY_ID:
        return _BY_ID[kind] + ref if ref.isdigit() else None
    if kind in _LISTED:
        return _LISTED[kind]
    if kind == "device":
        mn = names.device.get(int(ref), (None, ""))[0] if ref.isdigit() else ref
        return f"/devices/{mn}" if mn else None
    if kind == "sample":
        code = names.sample.get(int(ref)) if ref.isdigit() else ref
        return f"/sampling/samples/{code}" if code else None
    if kind in ("enterprise", "operator"):
        return f"/compliance/findings?{kind}_id={ref}" if ref.isdigit() else None
    if kind == "rate":
        return _rate_href(ref)
    if kind == "audit_day":  # "<day>" or "<operator id>:<day>"
        operator, _, day = ref.rpartition(":")
        return f"/audit/{day}" + (f"?operator={operator}" if operator else "")
    return None  # certificate, manual_result: no page of their own


@dataclass(frozen=True)
class Shown:
    """One link as a page shows it: label (msgid) and text, and where it goes (None: text only)."""

    kind: str
    label: str
    text: str
    href: str | None


def evidence_of(row: dict[str, Any], names: Names) -> list[Shown]:
    out = []
    for link in row.get("evidence") or ():
        kind, ref = str(link.get("kind", "")), str(link.get("ref", ""))
        text = str(link.get("label") or ref)
        out.append(Shown(kind, LINK_LABELS.get(kind, kind), text, evidence_href(kind, ref, names)))
    return out


def subjects_of(row: dict[str, Any], names: Names, scope: Scope) -> list[Shown]:
    """Every party a finding names, most specific first, each linked when the viewer may open its page."""
    out: list[Shown] = []
    if row["device_id"] is not None:
        mn = names.device.get(row["device_id"], ("", ""))[0]
        href = (
            f"/devices/{mn}"
            if mn and scope.sees_device(row["device_id"]) and scope.role != "agency"
            else None
        )
        out.append(Shown("device", LINK_LABELS["device"], names.subject("device", row["device_id"]), href))
    if row["outlet_id"] is not None:
        visible = scope.sees_outlet(row["outlet_id"]) and scope.role != "agency"
        href = f"/outlets/{row['outlet_id']}" if visible else None
        out.append(Shown("outlet", LINK_LABELS["outlet"], names.subject("outlet", row["outlet_id"]), href))
    for kind in ("enterprise", "operator"):
        ref = row[f"{kind}_id"]
        if ref is not None:
            seen = scope.sees_enterprise(ref) if kind == "enterprise" else scope.sees_operator(ref)
            href = f"/compliance/findings?{kind}_id={ref}&state=all" if seen else None
            out.append(Shown(kind, LINK_LABELS[kind], names.subject(kind, ref), href))
    if row["agency_id"] is not None:
        href = f"/sampling/agencies/{row['agency_id']}" if scope.sees_agency(row["agency_id"]) else None
        out.append(Shown("agency", LINK_LABELS["agency"], names.subject("agency", row["agency_id"]), href))
    return out
