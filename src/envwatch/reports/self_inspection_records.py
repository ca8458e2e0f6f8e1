"""The field records (运维记录) of a self-inspection report: the current records of the quarter, their
payloads as text, parameter changes (before / after), and the work per device they add up to (inspections,
calibrations and checks, comparisons: SX-20.3, SX-20.8, SX-18.6).

Only current records count: a record superseded by a correction (``supersedes_id`` of a later row) is
replaced by that correction, which counts in the quarter holding its own ``performed_at`` (China time).
The payloads are those of ``operations.field_kinds``; a payload is shown as "key: value" pairs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, exists, select

from envwatch.core.clock import to_china
from envwatch.core.settings import Settings
from envwatch.operations.records_schema import field_records
from envwatch.operations.staff_schema import staff
from envwatch.registry.schema import operators
from envwatch.reports.quarters import Quarter
from envwatch.reports.self_inspection_checks import count_comparisons, count_inspections
from envwatch.reports.self_inspection_data import DeviceInfo, DeviceWork, ParameterChange, RecordLine

# payload keys a parameter change (参数变更) may use for the parameter and its values, most specific first
_PARAMETER_KEYS = ("parameter", "name", "param", "code", "item")
_BEFORE_KEYS = ("before", "old", "old_value", "value_before", "from")
_AFTER_KEYS = ("after", "new", "new_value", "value_after", "to")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def payload_details(payload: Any) -> str:
    """A record's payload as "key: value" pairs in key order (the kinds' fields are their areas' own)."""
    if not isinstance(payload, Mapping):
        return "" if payload in (None, "") else _text(payload)
    return "；".join(f"{key}: {_text(payload[key])}" for key in sorted(payload))


def _first(item: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((item[k] for k in keys if item.get(k) is not None), None)


def parameter_changes_of(payload: Any) -> list[tuple[str, str, str]]:
    """(parameter, before, after) of a parameter-change payload: one change, or a list under ``changes``."""
    if not isinstance(payload, Mapping):
        return []
    listed = payload.get("changes")
    items = listed if isinstance(listed, list) else [payload]
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        before, after = _first(item, _BEFORE_KEYS), _first(item, _AFTER_KEYS)
        if before is None and after is None:
            continue
        parameter = _first(item, _PARAMETER_KEYS)
        out.append(
            (
                "" if parameter is None else _text(parameter),
                "" if before is None else _text(before),
                "" if after is None else _text(after),
            )
        )
    return out


def out_of_control(kind: str, verdict: str, payload: Any) -> bool:
    """失控 (SX-20.8): a calibration beyond its loss-of-control threshold (``operations.field_kinds`` writes
    ``out_of_control`` into the payload when judging), a failed standard check or comparison (HJ 75-2017
    §11: the data since the last good check are invalid)."""
    if kind in ("standard_check", "comparison"):
        return verdict == "fail"
    return kind == "calibration" and isinstance(payload, Mapping) and payload.get("out_of_control") is True


def current_records(
    conn: Connection, by_id: Mapping[int, DeviceInfo], quarter: Quarter
) -> tuple[RecordLine, ...]:
    """Current field records (not superseded) of the devices performed in the quarter."""
    if not by_id:
        return ()
    fr = field_records.c
    later = field_records.alias("later")
    query = (
        select(field_records, staff.c.name.label("staff_name"), operators.c.name.label("operator_name"))
        .join(staff, staff.c.id == fr.staff_id)
        .join(operators, operators.c.id == fr.operator_id)
        .where(
            fr.device_id.in_(list(by_id)),
            fr.performed_at >= quarter.start,
            fr.performed_at < quarter.end,
            ~exists().where(later.c.supersedes_id == fr.id),
        )
        .order_by(fr.performed_at, fr.id)
    )
    return tuple(
        RecordLine(
            id=r.id,
            kind=r.kind,
            mn=by_id[r.device_id].mn,
            performed_at=r.performed_at,
            staff=r.staff_name,
            operator=r.operator_name,
            verdict=r.verdict,
            on_site=r.on_site,
            details=payload_details(r.payload),
            out_of_control=out_of_control(r.kind, r.verdict, r.payload),
            note=r.note,
            corrects=r.supersedes_id,
        )
        for r in conn.execute(query)
    )


def parameter_changes(
    conn: Connection, records: Sequence[RecordLine], by_id: Mapping[int, DeviceInfo]
) -> tuple[ParameterChange, ...]:
    wanted = [r.id for r in records if r.kind == "parameter_change"]
    if not wanted:
        return ()
    fr = field_records.c
    payloads = {r.id: r.payload for r in conn.execute(select(fr.id, fr.payload).where(fr.id.in_(wanted)))}
    out = []
    for r in records:
        if r.kind == "parameter_change":
            for parameter, before, after in parameter_changes_of(payloads[r.id]):
                out.append(ParameterChange(r.id, r.mn, r.performed_at, parameter, before, after))
    return tuple(out)


def _day(record: RecordLine) -> date:
    return to_china(record.performed_at).date()


def device_work(
    devices_: Sequence[DeviceInfo],
    records: Sequence[RecordLine],
    settings: Settings,
    quarter: Quarter,
    today: date,
) -> tuple[DeviceWork, ...]:
    per: dict[str, list[RecordLine]] = defaultdict(list)
    for r in records:
        per[r.mn].append(r)
    out = []
    for device in devices_:
        mine = per[device.mn]

        def of(kind: str, rows: list[RecordLine] = mine) -> list[RecordLine]:
            return [r for r in rows if r.kind == kind]

        comparisons = of("comparison")
        out.append(
            DeviceWork(
                mn=device.mn,
                kind=device.kind,
                inspections=count_inspections(
                    quarter, settings.om_inspection_every_days, [_day(r) for r in of("inspection")], today
                ),
                calibrations=len(of("calibration")),
                calibrations_failed=sum(1 for r in of("calibration") if r.verdict == "fail"),
                calibrations_out_of_control=sum(1 for r in of("calibration") if r.out_of_control),
                standard_checks=len(of("standard_check")),
                standard_checks_failed=sum(1 for r in of("standard_check") if r.verdict == "fail"),
                comparisons=count_comparisons(
                    quarter, device.kind, [(_day(r), r.verdict) for r in comparisons], today
                ),
                comparisons_failed=sum(1 for r in comparisons if r.verdict == "fail"),
            )
        )
    return tuple(out)
