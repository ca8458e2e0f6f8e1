"""Field records (运维记录, SX-18.2): writing one with every check, correcting it, reading and listing them.

Theory of operation
-------------------
:func:`add_record` stores one piece of work done at a device after checking, in this order, that:

1. the kind and its payload are complete (``operations.field_kinds``);
2. the device exists, sits on an outlet, and a contract of the operator covers that outlet on the China
   day the work was done (``registry.service_operators.contracted_outlets``, the registry's one rule);
3. the time is aware, not in the future (:data:`FUTURE_TOLERANCE` for phone clocks) and not before the
   device was registered;
4. the person may do field work for the operator that day (``operations.assignment.require_assignable``:
   active, with a certificate valid that day, CS-4.5);
5. the reference materials cited are the operator's and valid that day (SX-20.5), and a calibration or
   standard-sample check cites at least one;
6. the GPS sign-in gives the distance from the outlet (``operations.geo``) and ``on_site`` by
   ``om_sign_in_max_distance_m``; without a position (or an outlet position) ``on_site`` is unknown;
7. ``field_kinds.judge`` gives the verdict, with the criteria of ``operations.qa_limits`` and, for a
   calibration, the factor's registered range (``device_factors.range_high``).

``keep_until`` is the performed day plus ``om_record_retention_years`` (SX-18.2, 3 years), or
``om_comparison_retention_years`` for a comparison (SX-18.6, 5 years), fixed when written.

Nothing is updated (the table refuses it): :func:`correct_record` writes a new row with
``supersedes_id``; a record is corrected at most once (the unique constraint on ``supersedes_id`` backs
the check against a concurrent correction), so the versions form a chain and the newest is current.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.geo import check_position, distance_m, on_site
from envwatch.core.settings import Settings
from envwatch.operations import field_kinds as kinds
from envwatch.operations.assignment import require_assignable
from envwatch.operations.materials import require_usable
from envwatch.operations.qa_limits import limits_of
from envwatch.operations.records_schema import field_record_materials, field_records, reference_materials
from envwatch.operations.staff_schema import staff
from envwatch.registry.attachments import add_attachment, list_attachments
from envwatch.registry.schema import device_factors, devices, enterprises, operators, outlets
from envwatch.registry.service_operators import contracted_outlets

ATTACHMENT_KIND = "field_record"  # attachments.owner_kind of a record's photos and files
FUTURE_TOLERANCE = timedelta(minutes=5)  # a phone's clock may run a little ahead of the server's
NOTE_MAX = 2000
LIST_MAX = 1000
_f = field_records.c


@dataclass(frozen=True)
class RecordDraft:
    """What a person records; ``payload`` is the kind's fields (``field_kinds``)."""

    device_id: int
    kind: str
    operator_id: int
    staff_id: int
    performed_at: datetime
    payload: Mapping[str, Any]
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    material_ids: Sequence[int] = ()
    note: str = ""


def years_after(day: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February → 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def keep_until(kind: str, performed_day: date, settings: Settings) -> date:
    years = (
        settings.om_comparison_retention_years if kind == "comparison" else settings.om_record_retention_years
    )
    return years_after(performed_day, years)


def _device(conn: Connection, device_id: int) -> dict[str, Any]:
    query = (
        select(
            devices.c.id,
            devices.c.mn,
            devices.c.kind,
            devices.c.outlet_id,
            devices.c.created_at,
            outlets.c.name.label("outlet_name"),
            outlets.c.latitude,
            outlets.c.longitude,
        )
        .select_from(devices)
        .outerjoin(outlets, outlets.c.id == devices.c.outlet_id)
        .where(devices.c.id == device_id)
    )
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"no device with id {device_id}")
    return dict(row)


def _when(performed_at: datetime, device: Mapping[str, Any], now: datetime) -> date:
    if performed_at.tzinfo is None:
        raise InvalidInput(f"the time the work was done, {performed_at.isoformat()}, has no time zone")
    if performed_at > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            f"the work cannot have been done at {to_china(performed_at):%Y-%m-%d %H:%M} (China time): that is "
            "in the future"
        )
    if performed_at < device["created_at"]:
        raise InvalidInput(
            f"the work cannot have been done at {to_china(performed_at):%Y-%m-%d %H:%M} (China time): device "
            f"{device['mn']} was registered only on {to_china(device['created_at']):%Y-%m-%d %H:%M}"
        )
    return to_china(performed_at).date()


def _covered(conn: Connection, device: Mapping[str, Any], operator_id: int, day: date) -> None:
    if device["outlet_id"] is None:
        raise InvalidInput(f"device {device['mn']} is on no outlet: no contract can cover work on it")
    if conn.execute(select(operators.c.id).where(operators.c.id == operator_id)).first() is None:
        raise NotFound(f"no operator with id {operator_id}")
    if device["outlet_id"] not in contracted_outlets(conn, operator_id, day, day)[0]:
        raise InvalidInput(
            f"no contract of operator {operator_id} covers outlet {device['outlet_id']} ({device['outlet_name']}) "
            f"of device {device['mn']} on {day.isoformat()}"
        )


def _position(
    draft: RecordDraft, device: Mapping[str, Any], settings: Settings
) -> tuple[Decimal | None, Decimal | None, int | None, str]:
    """(latitude, longitude, distance in m, on_site) of the sign-in."""
    lat, lon = draft.latitude, draft.longitude
    if (lat is None) != (lon is None):
        raise InvalidInput("give both latitude and longitude of the sign-in, or neither")
    if lat is None or lon is None:
        return None, None, None, "unknown"
    check_position(lat, lon)
    distance = None
    if device["latitude"] is not None and device["longitude"] is not None:
        distance = distance_m(lat, lon, device["latitude"], device["longitude"])
    return lat, lon, distance, on_site(distance, settings.om_sign_in_max_distance_m)


def _range_high(conn: Connection, device: Mapping[str, Any], factor: str) -> Decimal:
    query = select(device_factors.c.range_high).where(
        device_factors.c.device_id == device["id"], device_factors.c.factor == factor
    )
    found = conn.execute(query).first()
    if found is None or found.range_high is None or found.range_high <= 0:
        raise InvalidInput(
            f"device {device['mn']} has no range registered for factor {factor}: register the range (range_high) "
            "of that factor on the device before recording a calibration"
        )
    return Decimal(found.range_high)


def _judged(
    conn: Connection, draft: RecordDraft, device: Mapping[str, Any], settings: Settings
) -> kinds.Judgement:
    payload = kinds.parse_payload(draft.kind, draft.payload)
    limits = limits_of(settings)
    factor = kinds.factor_of(payload)
    if draft.kind == "comparison" and factor is not None and factor in limits.comparison:
        wanted = limits.comparison[factor].kind
        if wanted != device["kind"]:
            raise InvalidInput(
                f"factor {factor} is compared on {wanted} devices; device {device['mn']} is a {device['kind']} device"
            )
    range_high = _range_high(conn, device, factor) if draft.kind == "calibration" and factor else None
    return kinds.judge(draft.kind, payload, limits, range_high)


def _note(text: str) -> str:
    text = text.strip()
    if len(text) > NOTE_MAX:
        raise InvalidInput(f"the note is {len(text)} characters; at most {NOTE_MAX}")
    return text


def _checked_row(
    conn: Connection, draft: RecordDraft, recorded_by: str, now: datetime, settings: Settings
) -> tuple[dict[str, Any], list[int]]:
    """The row to insert and the materials it cites, after every check of the module docstring."""
    kinds.require_kind(draft.kind)
    kinds.parse_payload(draft.kind, draft.payload)  # an incomplete form is said first
    device = _device(conn, draft.device_id)
    day = _when(draft.performed_at, device, now)
    _covered(conn, device, draft.operator_id, day)
    require_assignable(conn, draft.staff_id, draft.operator_id, day)
    materials = require_usable(conn, draft.material_ids, draft.operator_id, day)
    if draft.kind in kinds.MATERIAL_KINDS and not materials:
        raise InvalidInput(
            f"a {draft.kind} record cites the certified reference materials it used (SX-20.5): give at least one"
        )
    lat, lon, distance, where = _position(draft, device, settings)
    judgement = _judged(conn, draft, device, settings)
    row = {
        "kind": draft.kind,
        "device_id": draft.device_id,
        "operator_id": draft.operator_id,
        "staff_id": draft.staff_id,
        "performed_at": draft.performed_at,
        "latitude": lat,
        "longitude": lon,
        "distance_m": distance,
        "on_site": where,
        "payload": judgement.payload,
        "verdict": judgement.verdict,
        "note": _note(draft.note),
        "keep_until": keep_until(draft.kind, day, settings),
        "recorded_by": recorded_by,
        "recorded_at": now,
    }
    return row, [int(m["id"]) for m in materials]


def _insert(conn: Connection, row: Mapping[str, Any], material_ids: list[int]) -> int:
    record_id = int(conn.execute(insert(field_records).values(**row).returning(_f.id)).scalar_one())
    if material_ids:
        conn.execute(
            insert(field_record_materials), [{"record_id": record_id, "material_id": m} for m in material_ids]
        )
    submit_row(conn, field_records, record_id, kind="om_record", now=row["recorded_at"])
    links = select(field_record_materials.c.id).where(field_record_materials.c.record_id == record_id)
    for link_id in conn.execute(links.order_by(field_record_materials.c.id)).scalars():
        submit_row(conn, field_record_materials, link_id, kind="om_record_material", now=row["recorded_at"])
    return record_id


def add_record(
    conn: Connection, draft: RecordDraft, recorded_by: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    """Store a field record after every check (module docstring); returns it as :func:`get_record` does."""
    row, material_ids = _checked_row(conn, draft, recorded_by, now, settings)
    return get_record(conn, _insert(conn, row, material_ids))


def correct_record(
    conn: Connection,
    record_id: int,
    draft: RecordDraft,
    recorded_by: str,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """A corrected version of record ``record_id`` (a new row superseding it, with a note saying what was
    wrong). Same device, kind and operator; every check of :func:`add_record` again. Conflict when the
    record was corrected already (correct the newest version instead)."""
    original = _row(conn, record_id)
    if (draft.device_id, draft.kind) != (original["device_id"], original["kind"]):
        raise InvalidInput(
            f"a correction of record {record_id} keeps its device {original['device_id']} and kind "
            f"{original['kind']}: record other work as a new record"
        )
    if draft.operator_id != original["operator_id"]:
        raise InvalidInput(f"record {record_id} is operator {original['operator_id']}'s: only it corrects it")
    if not draft.note.strip():
        raise InvalidInput("a correction needs a note saying what was wrong in the record it corrects")
    _not_corrected(conn, record_id)
    row, material_ids = _checked_row(conn, draft, recorded_by, now, settings)
    row["supersedes_id"] = record_id
    try:
        with conn.begin_nested():  # a concurrent correction hits the unique constraint: roll back just this
            new_id = _insert(conn, row, material_ids)
    except IntegrityError:
        _not_corrected(conn, record_id)
        raise
    return get_record(conn, new_id)


def _not_corrected(conn: Connection, record_id: int) -> None:
    later = conn.execute(select(_f.id).where(_f.supersedes_id == record_id)).scalar()
    if later is not None:
        raise Conflict(
            f"record {record_id} was corrected already by record {later}: correct that one instead"
        )


# ---- reading ----------------------------------------------------------------------------------------------


def _row(conn: Connection, record_id: int) -> dict[str, Any]:
    row = conn.execute(select(field_records).where(_f.id == record_id)).mappings().first()
    if row is None:
        raise NotFound(f"no field record with id {record_id}")
    return dict(row)


_later = field_records.alias("later")


def _listing() -> Any:
    """Records with the names a list shows and the id of the row superseding each (None: current)."""
    superseded_by = select(_later.c.id).where(_later.c.supersedes_id == _f.id).scalar_subquery()
    return (
        select(
            field_records,
            devices.c.mn,
            devices.c.name.label("device_name"),
            devices.c.kind.label("device_kind"),
            devices.c.outlet_id,
            outlets.c.name.label("outlet_name"),
            outlets.c.enterprise_id,
            enterprises.c.name.label("enterprise_name"),
            enterprises.c.region_code,
            operators.c.name.label("operator_name"),
            staff.c.name.label("staff_name"),
            superseded_by.label("superseded_by"),
        )
        .select_from(field_records)
        .join(devices, devices.c.id == _f.device_id)
        .outerjoin(outlets, outlets.c.id == devices.c.outlet_id)
        .outerjoin(enterprises, enterprises.c.id == outlets.c.enterprise_id)
        .join(operators, operators.c.id == _f.operator_id)
        .join(staff, staff.c.id == _f.staff_id)
    )


def record_materials(conn: Connection, record_id: int) -> list[dict[str, Any]]:
    query = (
        select(reference_materials)
        .join(field_record_materials, field_record_materials.c.material_id == reference_materials.c.id)
        .where(field_record_materials.c.record_id == record_id)
        .order_by(field_record_materials.c.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def chain_of(conn: Connection, record_id: int) -> list[dict[str, Any]]:
    """Every version of the record, oldest first: what it supersedes back to the first, and what superseded
    it up to the current one (each: id, recorded_at, recorded_by, verdict, note)."""
    cols = (_f.id, _f.supersedes_id, _f.recorded_at, _f.recorded_by, _f.verdict, _f.note)
    current = dict(conn.execute(select(*cols).where(_f.id == record_id)).mappings().one())
    earlier: list[dict[str, Any]] = []
    back = current["supersedes_id"]
    while back is not None:
        row = dict(conn.execute(select(*cols).where(_f.id == back)).mappings().one())
        earlier.insert(0, row)
        back = row["supersedes_id"]
    later: list[dict[str, Any]] = []
    ahead = current["id"]
    while True:
        found = conn.execute(select(*cols).where(_f.supersedes_id == ahead)).mappings().first()
        if found is None:
            break
        later.append(dict(found))
        ahead = found["id"]
    return [*earlier, current, *later]


def get_record(conn: Connection, record_id: int) -> dict[str, Any]:
    """One record with its device, outlet, enterprise, operator and staff names, ``superseded_by``, the
    reference materials it used, its attachments and its correction chain."""
    row = conn.execute(_listing().where(_f.id == record_id)).mappings().first()
    if row is None:
        raise NotFound(f"no field record with id {record_id}")
    out = dict(row)
    out["materials"] = record_materials(conn, record_id)
    out["attachments"] = list_attachments(conn, ATTACHMENT_KIND, record_id)
    out["chain"] = chain_of(conn, record_id)
    return out


@dataclass(frozen=True)
class RecordQuery:
    """Which records a list holds; every field given narrows it (AND). ``device_ids``/``operator_ids`` are
    how the web layer applies a scope (an empty collection matches nothing); ``either`` joins those two
    with OR instead. ``since``/``until`` bound ``performed_at`` (``since`` included, ``until`` not)."""

    device_ids: Collection[int] | None = None
    operator_ids: Collection[int] | None = None
    either: bool = False
    outlet_id: int | None = None
    enterprise_id: int | None = None
    kinds: Collection[str] | None = None
    verdict: str | None = None
    on_site: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    current_only: bool = True
    limit: int = 100
    offset: int = 0


def _where(q: RecordQuery) -> list[Any]:
    where: list[Any] = []
    scoped = []
    if q.device_ids is not None:
        scoped.append(_f.device_id.in_(list(q.device_ids)))
    if q.operator_ids is not None:
        scoped.append(_f.operator_id.in_(list(q.operator_ids)))
    if scoped:
        where.append(or_(*scoped) if q.either else and_(*scoped))
    if q.outlet_id is not None:
        where.append(devices.c.outlet_id == q.outlet_id)
    if q.enterprise_id is not None:
        where.append(outlets.c.enterprise_id == q.enterprise_id)
    if q.kinds is not None:
        for kind in q.kinds:
            kinds.require_kind(kind)
        where.append(_f.kind.in_(list(q.kinds)))
    if q.verdict is not None:
        if q.verdict not in ("pass", "fail", "none"):
            raise InvalidInput(f"verdict is pass, fail or none, not {q.verdict!r}")
        where.append(_f.verdict == q.verdict)
    if q.on_site is not None:
        if q.on_site not in ("yes", "no", "unknown"):
            raise InvalidInput(f"on_site is yes, no or unknown, not {q.on_site!r}")
        where.append(_f.on_site == q.on_site)
    if q.since is not None:
        where.append(_f.performed_at >= q.since)
    if q.until is not None:
        where.append(_f.performed_at < q.until)
    if q.current_only:
        where.append(~exists().where(_later.c.supersedes_id == _f.id))
    return where


def list_records(conn: Connection, q: RecordQuery) -> tuple[list[dict[str, Any]], int]:
    """One page of records (newest work first) and how many match."""
    if not 1 <= q.limit <= LIST_MAX:
        raise InvalidInput(f"limit must be 1-{LIST_MAX}, not {q.limit}")
    if q.offset < 0:
        raise InvalidInput(f"offset must not be negative, not {q.offset}")
    where = _where(q)
    query = (
        _listing()
        .where(*where)
        .order_by(_f.performed_at.desc(), _f.id.desc())
        .limit(q.limit)
        .offset(q.offset)
    )
    rows = [dict(r) for r in conn.execute(query).mappings()]
    count = (
        select(func.count())
        .select_from(field_records)
        .join(devices, devices.c.id == _f.device_id)
        .outerjoin(outlets, outlets.c.id == devices.c.outlet_id)
        .where(*where)
    )
    return rows, int(conn.execute(count).scalar_one())


def add_record_attachment(
    conn: Connection,
    blobs: BlobStore,
    record_id: int,
    *,
    filename: str,
    content: bytes,
    content_type: str,
    added_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Attach a photo or a scan (the signed paper record, a certificate) to record ``record_id``."""
    _row(conn, record_id)
    return add_attachment(
        conn,
        blobs,
        owner_kind=ATTACHMENT_KIND,
        owner_id=record_id,
        filename=filename,
        content=content,
        content_type=content_type,
        added_by=added_by,
        now=now,
    )
