"""Manual monitoring results (手工监测结果) uploaded during a device fault (SX-18.3).

SX-18.3: a fault lasting more than 24 h needs a backup device or **licensed manual monitoring with uploaded
results**. The results are stored as measurements of their own (``manual_results``, append-only in the
database), never mixed into the device's automatic data, each with the testing agency (检测机构) and its
report number (检测报告编号).

Rules (:func:`add_manual_results`), all checked before anything is stored (one refused row stores none):

- only while a backup of kind ``manual`` runs on the fault (state ``on_backup``, ``backup_kind`` manual):
  otherwise :class:`~envwatch.core.errors.Conflict`;
- each sample taken within [backup start, now]; the factor an HJ 212 code the fault covers (its factors,
  or any factor registered on the device when the fault is the whole device; a device without registered
  factors takes any code, as the marks do); the value an exact decimal given as text (never a float);
  the unit, the agency and the report number required;
- one result per factor and sampling time on a fault (again in the same upload, or already stored: a
  re-sent file is refused, not stored twice).

A wrong result is corrected by a new row, or withdrawn when it is no result of this fault
(:func:`correct_manual_result`, the rules of ``operations.corrections``: once per row, with a reason),
also after the backup ended: the right values pass the same checks, sampled within the manual monitoring
(from its start to its end, the restore, or now). Every reader (:func:`manual_results_of`, the fault's
view, the API, the self-inspection report) counts only the current rows; :func:`manual_result_history`
keeps every row readable with who corrected it, when and why.

:func:`parse_manual_csv` reads the bulk form, columns ``factor,sampled_at,value,unit,agency,report_no``
(sampled_at in China time unless it carries an offset); its errors, and the store's for its rows, name the
line of the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, insert, select

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.db import exact_text
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import row_payload, row_ref, submit, submit_row
from envwatch.operations.corrections import (
    current,
    insert_correction,
    reason_of,
    require_correctable,
    with_corrections,
    withdrawal_of,
)
from envwatch.operations.faults_schema import faults, manual_results
from envwatch.registry.schema import device_factors

CSV_COLUMNS: Final = ("factor", "sampled_at", "value", "unit", "agency", "report_no")
ROWS_MAX: Final = 5000  # results one upload may hold
_FACTOR = re.compile(r"[A-Za-z0-9]{2,32}")
_LIMITS: Final = {"unit": 32, "agency": 200, "report_no": 64}
_VALUE_MAX: Final = 48  # characters of a value (the ExactDecimal column)
_m = manual_results.c
RESULT = "manual result"  # how messages name a row of manual_results
VALUE_FIELDS: Final = ("factor", "sampled_at", "value", "unit", "agency", "report_no")


@dataclass(frozen=True)
class ManualResultIn:
    """One manual monitoring result as given; ``line`` is its line in an uploaded file (for messages)."""

    factor: str
    sampled_at: datetime
    value: str | Decimal
    unit: str
    agency: str
    report_no: str
    line: int | None = None


def manual_results_of(conn: Connection, fault_id: int) -> list[dict[str, Any]]:
    """The fault's current manual results (neither corrected nor withdrawn) by sampling time, then factor."""
    query = (
        select(manual_results)
        .where(_m.fault_id == fault_id, current(manual_results))
        .order_by(_m.sampled_at, _m.factor, _m.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def manual_result_history(conn: Connection, fault_id: int) -> list[dict[str, Any]]:
    """Every manual result row of the fault but the withdrawals, by sampling time, then factor, each with
    ``current``, ``corrects`` and ``correction`` (who corrected or withdrew it, when, why)."""
    query = select(manual_results).where(_m.fault_id == fault_id).order_by(_m.sampled_at, _m.factor, _m.id)
    return with_corrections(conn.execute(query).mappings())


# ---- the CSV form ----


def _csv_time(text: str) -> datetime:
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"sampled_at {text!r} is not a time such as 2026-11-22 08:00 (China time)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TZ)).astimezone(UTC)


def parse_manual_csv(text: str) -> list[ManualResultIn]:
    """The rows of a CSV with the header ``factor,sampled_at,value,unit,agency,report_no`` (any column
    order, extra columns refused); InvalidInput naming the line for anything unreadable."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM before UTF-8 CSV
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise InvalidInput(f"the file is empty: give a header line {','.join(CSV_COLUMNS)} and the results")
    names = [h.strip().lower() for h in header]
    if sorted(names) != sorted(CSV_COLUMNS):
        raise InvalidInput(
            f"line 1: the header must name the columns {','.join(CSV_COLUMNS)}, not {','.join(names)}"
        )
    rows: list[ManualResultIn] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines (a trailing newline, a spreadsheet's empty rows)
        if len(cells) != len(names):
            raise InvalidInput(f"line {line}: {len(cells)} columns, the header has {len(names)}")
        if len(rows) >= ROWS_MAX:
            raise InvalidInput(f"line {line}: an upload holds at most {ROWS_MAX} results; split the file")
        value = dict(zip(names, (c.strip() for c in cells), strict=True))
        try:
            sampled_at = _csv_time(value["sampled_at"])
        except InvalidInput as exc:
            raise InvalidInput(f"line {line}: {exc.message}") from None
        rows.append(
            ManualResultIn(
                factor=value["factor"],
                sampled_at=sampled_at,
                value=value["value"],
                unit=value["unit"],
                agency=value["agency"],
                report_no=value["report_no"],
                line=line,
            )
        )
    if not rows:
        raise InvalidInput("the file holds no results under its header")
    return rows


# ---- storing ----


def _label(row: ManualResultIn, index: int) -> str:
    return f"line {row.line}" if row.line is not None else f"row {index + 1}"


def _value(value: str | Decimal) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInput(f"the value {value} is not a finite number")
        text = format(value, "f")
    elif isinstance(value, str):
        found = exact_text(value)
        if found is None:
            raise InvalidInput(f"the value {value!r} is not a decimal number such as 12.3")
        text = found
    else:  # a float is not exact: 0.1 would be stored as 0.1000000000000000055…
        raise InvalidInput(f"the value {value!r} must be given as text (an exact decimal), not a number")
    if len(text) > _VALUE_MAX:
        raise InvalidInput(f"the value {text} is longer than {_VALUE_MAX} characters")
    return text


def _required(row: ManualResultIn, field: str) -> str:
    value = str(getattr(row, field)).strip()
    names = {"unit": "the unit", "agency": "the testing agency (检测机构)", "report_no": "the report number"}
    if not value:
        raise InvalidInput(f"{names[field]} is required")
    if len(value) > _LIMITS[field]:
        raise InvalidInput(f"{names[field]} is {len(value)} characters; at most {_LIMITS[field]}")
    return value


def _allowed_factors(conn: Connection, fault: Mapping[str, Any]) -> set[str] | None:
    """The factors the results may name: the fault's, else the device's registered ones (None: any)."""
    own = {f for f in str(fault["factors"] or "").split(",") if f}
    if own:
        return own
    registered = set(
        conn.execute(
            select(device_factors.c.factor).where(device_factors.c.device_id == fault["device_id"])
        ).scalars()
    )
    return registered or None


def _china(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M:%S}"


def _stored(conn: Connection, fault_id: int, but: int | None = None) -> dict[tuple[str, datetime], int]:
    """The fault's current results by (factor, sampling time): a withdrawn or corrected row no longer holds
    its place. ``but``: leave out the row a correction replaces."""
    query = select(_m.id, _m.factor, _m.sampled_at).where(_m.fault_id == fault_id, current(manual_results))
    if but is not None:
        query = query.where(_m.id != but)
    return {(r.factor, r.sampled_at): r.id for r in conn.execute(query)}


def _checked_row(
    row: ManualResultIn, allowed: set[str] | None, since: datetime, until: datetime, until_text: str
) -> dict[str, Any]:
    """One result's values after its checks (every one but the duplicate check)."""
    factor = row.factor.strip()
    if not _FACTOR.fullmatch(factor):
        raise InvalidInput(f"factor {factor!r} is not an HJ 212 pollutant code such as a21026")
    if allowed is not None and factor not in allowed:
        raise InvalidInput(f"factor {factor} is not one this fault covers ({', '.join(sorted(allowed))})")
    sampled = row.sampled_at
    if sampled.tzinfo is None or sampled.utcoffset() is None:
        raise InvalidInput(f"sampled_at {sampled.isoformat()} has no time zone")
    if not since <= sampled <= until:
        raise InvalidInput(
            f"sampled at {_china(sampled)} (China time), outside the manual monitoring from "
            f"{_china(since)} until {until_text}"
        )
    unit, agency, report_no = (_required(row, f) for f in ("unit", "agency", "report_no"))
    return {
        "factor": factor,
        "sampled_at": sampled,
        "value": _value(row.value),
        "unit": unit,
        "agency": agency,
        "report_no": report_no,
    }


def _checked(
    conn: Connection, fault: Mapping[str, Any], rows: Sequence[ManualResultIn], now: datetime
) -> list[dict[str, Any]]:
    allowed = _allowed_factors(conn, fault)
    stored = _stored(conn, fault["id"])
    seen: dict[tuple[str, datetime], str] = {}
    out: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        where = _label(row, index)
        try:
            values = _checked_row(row, allowed, fault["backup_started_at"], now, "now")
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}") from None
        factor, sampled = values["factor"], values["sampled_at"]
        key = (factor, sampled.astimezone(UTC))
        if key in seen:
            raise Conflict(f"{where}: {factor} at {_china(sampled)} is given twice (also {seen[key]})")
        if key in stored:
            raise Conflict(
                f"{where}: {factor} at {_china(sampled)} is already stored (manual result {stored[key]})"
            )
        seen[key] = where
        out.append(values)
    return out


def add_manual_results(
    conn: Connection, fault_id: int, rows: Sequence[ManualResultIn], *, by: str, now: datetime
) -> list[dict[str, Any]]:
    """Store the results of manual monitoring on fault ``fault_id`` (see the module doc); all or none.
    Returns the stored rows."""
    found = conn.execute(select(faults).where(faults.c.id == fault_id).with_for_update()).mappings().first()
    if found is None:
        raise NotFound(f"no fault {fault_id}")
    fault = dict(found)
    if fault["state"] != "on_backup" or fault["backup_kind"] != "manual":
        running = fault["backup_kind"] if fault["state"] == "on_backup" else "none"
        raise Conflict(
            f"fault {fault_id} has no manual monitoring running (state {fault['state']}, backup {running}): "
            "manual results are taken only while a backup of kind manual runs"
        )
    if not rows:
        raise InvalidInput("give at least one result")
    if len(rows) > ROWS_MAX:
        raise InvalidInput(f"an upload holds at most {ROWS_MAX} results, not {len(rows)}")
    by = by.strip()
    if not by or len(by) > 64:
        raise InvalidInput("the person recording it must be a username of 1-64 characters")
    checked = _checked(conn, fault, rows, now)
    common = {"fault_id": fault_id, "device_id": fault["device_id"], "recorded_by": by, "recorded_at": now}
    conn.execute(insert(manual_results), [{**common, **r} for r in checked])
    added = {(r["factor"], r["sampled_at"].astimezone(UTC)) for r in checked}
    stored = [r for r in manual_results_of(conn, fault_id) if (r["factor"], r["sampled_at"]) in added]
    for r in stored:  # read back in this transaction: the logged copy is the stored row
        submit(conn, "manual_result", row_ref(manual_results, r["id"]), row_payload(manual_results, r), now)
    return stored


def manual_result_row(conn: Connection, result_id: int) -> dict[str, Any]:
    """One manual result row, current or not (NotFound for an unknown id)."""
    row = conn.execute(select(manual_results).where(_m.id == result_id)).mappings().first()
    if row is None:
        raise NotFound(f"no manual result with id {result_id}")
    return dict(row)


def correct_manual_result(
    conn: Connection,
    result_id: int,
    draft: ManualResultIn | None,
    *,
    reason: str,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Correct manual result ``result_id`` by a new row with ``draft`` (the right values), or withdraw it
    with ``draft`` None (no result of this fault: replaced by nothing). ``reason`` says what was wrong.
    Returns the new row.

    The draft passes the checks of :func:`add_manual_results` but the running backup: a result may be
    corrected after the manual monitoring ended, but must have been sampled within it (from its start to
    its end, the restore, or now). NotFound for an unknown row; Conflict when the row was corrected or
    withdrawn already (naming the later row), for a withdrawal row, or when another current result holds
    the factor and time; InvalidInput for a correction that changes nothing."""
    original = manual_result_row(conn, result_id)
    # lock the fault, as add_manual_results does: uploads and corrections of one fault go one at a time
    fault = dict(
        conn.execute(select(faults).where(faults.c.id == original["fault_id"]).with_for_update())
        .mappings()
        .one()
    )
    require_correctable(conn, manual_results, original, RESULT)
    why = reason_of(reason)
    by = by.strip()
    if not by or len(by) > 64:
        raise InvalidInput("the person recording it must be a username of 1-64 characters")
    if draft is None:
        values = withdrawal_of(original, manual_results)
    else:
        ended = fault["backup_ended_at"] or fault["restored_at"]
        until, until_text = (ended, _china(ended)) if ended is not None else (now, "now")
        values = _checked_row(
            draft, _allowed_factors(conn, fault), fault["backup_started_at"], until, until_text
        )
        values |= {"fault_id": original["fault_id"], "device_id": original["device_id"]}
        if all(_same(values[k], original[k]) for k in VALUE_FIELDS):
            raise InvalidInput(
                f"the correction changes nothing in {RESULT} {result_id}: give the right values, or withdraw it"
            )
        key = (values["factor"], values["sampled_at"].astimezone(UTC))
        other = _stored(conn, fault["id"], but=result_id).get(key)
        if other is not None:
            raise Conflict(
                f"{key[0]} at {_china(key[1])} is already stored (manual result {other}): correct that one"
            )
    values |= {
        "supersedes_id": result_id,
        "withdrawn": draft is None,
        "reason": why,
        "recorded_by": by,
        "recorded_at": now,
    }
    new_id = insert_correction(conn, manual_results, values, result_id, RESULT)
    submit_row(conn, manual_results, new_id, kind="manual_result", now=now)
    return manual_result_row(conn, new_id)


def _same(given: Any, stored: Any) -> bool:
    """A corrected value equal to the stored one; a decimal as written ("12.30" is not "12.3": the report's
    precision is part of the result)."""
    if isinstance(stored, Decimal):
        return Decimal(str(given)).as_tuple() == stored.as_tuple()
    return bool(given == stored)
