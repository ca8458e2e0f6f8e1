"""Registry queries and the device import (``envwatch devices import FILE.csv``).

An import is all or nothing: every row is checked first, every problem is reported with its row number,
and only a file without problems is written, in one transaction.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from envwatch.core.errors import InvalidInput
from envwatch.registry.schema import device_keys, devices

CSV_COLUMNS = ("mn", "pw", "name", "enterprise", "outlet", "kind", "protocol", "sm4_key")
OPTIONAL_COLUMNS = ("crc_variants",)
KINDS = ("gas", "water")
PROTOCOLS = ("2005", "2017", "2025")
CRC_VARIANTS = ("standard", "modbus", "modbus_swapped")
# HJ 212-2017 MN is 24 hex chars, 2005 used 14; field devices use other lengths, so accept any short token
# that cannot break the data segment syntax.
_MN = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
_PW = re.compile(r"^[^;,=&\s]{1,32}$")
_KEY = re.compile(r"^[0-9A-Fa-f]{32}$")


@dataclass(frozen=True)
class DeviceRecord:
    """What the gateway needs to know about one data logger."""

    id: int
    mn: str
    pw: str
    name: str
    enterprise: str
    outlet: str
    kind: str
    protocol: str
    crc_variants: frozenset[str]
    sm4_key: bytes | None
    previous_sm4_key: bytes | None = None  # the key before the latest rotation (still accepted)


@dataclass(frozen=True)
class DeviceRow:
    mn: str
    pw: str
    name: str
    enterprise: str
    outlet: str
    kind: str
    protocol: str
    sm4_key: str | None
    crc_variants: str


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    keys_added: int


def parse_device_csv(text: str) -> list[DeviceRow]:
    """Check every row of a device file; raise InvalidInput listing every bad row (1-based, header = row 1)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            f"device file: missing column(s) {', '.join(missing)}; expected header {','.join(CSV_COLUMNS)}"
        )
    rows: list[DeviceRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line_no, raw in enumerate(reader, start=2):
        rec = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        errs = device_row_problems(rec)
        mn = rec.get("mn", "")
        if mn in seen:
            errs.append(f"MN {mn} already on row {seen[mn]}")
        seen.setdefault(mn, line_no)
        if errs:
            problems.append(f"row {line_no}: " + "; ".join(errs))
            continue
        rows.append(device_row_from(rec))
    if problems:
        raise InvalidInput("device file rejected, nothing imported:\n" + "\n".join(problems))
    if not rows:
        raise InvalidInput("device file has no rows")
    return rows


def _normal_variants(text: str) -> str:
    names = {v.strip() for v in re.split(r"[;|, ]", text) if v.strip()} | {"standard"}
    return ",".join(v for v in CRC_VARIANTS if v in names)


def device_row_from(rec: Mapping[str, str]) -> DeviceRow:
    """The ``DeviceRow`` of a record (stripped text cells) that ``device_row_problems`` found no fault in."""
    return DeviceRow(
        mn=rec["mn"],
        pw=rec["pw"],
        name=rec["name"],
        enterprise=rec["enterprise"],
        outlet=rec["outlet"],
        kind=rec["kind"],
        protocol=rec["protocol"],
        sm4_key=rec.get("sm4_key", "").upper() or None,
        crc_variants=_normal_variants(rec.get("crc_variants", "")),
    )


def device_row_problems(rec: Mapping[str, str]) -> list[str]:
    """What is wrong with one device record (column → stripped text); shared by the device CSV and the
    registry workbook (``registry.transfer``) so both accept exactly the same devices."""
    errs = []
    if not _MN.match(rec.get("mn", "")):
        errs.append(f"mn {rec.get('mn')!r} must be 1-32 letters/digits")
    if not _PW.match(rec.get("pw", "")):
        errs.append("pw must be 1-32 characters without ; , = & or spaces")
    for col in ("name", "enterprise", "outlet"):
        if not rec.get(col):
            errs.append(f"{col} is empty")
    if rec.get("kind") not in KINDS:
        errs.append(f"kind {rec.get('kind')!r} must be gas or water")
    if rec.get("protocol") not in PROTOCOLS:
        errs.append(f"protocol {rec.get('protocol')!r} must be 2017 or 2025 (2005 read-only)")
    key = rec.get("sm4_key", "")
    if key and not _KEY.match(key):
        errs.append("sm4_key must be 32 hex digits (a 128-bit SM4 key)")
    unknown = {v for v in re.split(r"[;|, ]", rec.get("crc_variants", "")) if v} - set(CRC_VARIANTS)
    if unknown:
        errs.append(f"crc_variants {sorted(unknown)} unknown; use {', '.join(CRC_VARIANTS)}")
    return errs


def import_devices(engine: Engine, rows: Iterable[DeviceRow], now: datetime) -> ImportResult:
    with engine.begin() as conn:
        return upsert_device_rows(conn, rows, now)


def upsert_device_rows(conn: Connection, rows: Iterable[DeviceRow], now: datetime) -> ImportResult:
    """Create or update devices by MN inside the caller's transaction; a new SM4 key is added to the key
    history (never replacing a row), an empty key leaves the current one."""
    created = updated = unchanged = keys_added = 0
    existing = {r.mn: r for r in conn.execute(select(devices)).mappings()}
    current_keys = _current_keys(conn)
    for row in rows:
        values = {
            "pw": row.pw,
            "name": row.name,
            "enterprise": row.enterprise,
            "outlet": row.outlet,
            "kind": row.kind,
            "protocol": row.protocol,
            "crc_variants": row.crc_variants,
        }
        old = existing.get(row.mn)
        if old is None:
            inserted = conn.execute(
                insert(devices).values(mn=row.mn, created_at=now, updated_at=now, **values)
            )
            device_id = inserted.inserted_primary_key[0]  # type: ignore[index]
            created += 1
        else:
            device_id = old["id"]
            if any(old[k] != v for k, v in values.items()):
                conn.execute(
                    update(devices).where(devices.c.id == device_id).values(updated_at=now, **values)
                )
                updated += 1
            else:
                unchanged += 1
        if row.sm4_key and current_keys.get(device_id) != row.sm4_key:
            conn.execute(
                insert(device_keys).values(
                    device_id=device_id, key_hex=row.sm4_key, source="import", created_at=now
                )
            )
            keys_added += 1
    return ImportResult(created, updated, unchanged, keys_added)


def import_devices_file(engine: Engine, path: Path, now: datetime) -> ImportResult:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read device file {path}: {exc}") from exc
    return import_devices(engine, parse_device_csv(text), now)


def _key_history(conn: Connection) -> dict[int, list[str]]:
    """Every device's SM4 keys, oldest first (the last one is current)."""
    history: dict[int, list[str]] = {}
    for row in conn.execute(
        select(device_keys.c.device_id, device_keys.c.key_hex).order_by(device_keys.c.id)
    ):
        history.setdefault(row.device_id, []).append(row.key_hex)
    return history


def _current_keys(conn: Connection) -> dict[int, str]:
    return {device_id: hexes[-1] for device_id, hexes in _key_history(conn).items()}


def registry_version(engine: Engine) -> tuple[object, ...]:
    """Changes whenever a device is added, changed or removed or a key is added: a reader that polls
    compares this (a few aggregates) instead of loading every device each time."""
    with engine.connect() as conn:
        count, changed = conn.execute(select(func.count(), func.max(devices.c.updated_at))).one()
        latest_key = conn.execute(select(func.max(device_keys.c.id))).scalar()
    return (count, changed, latest_key)


def load_devices(engine: Engine) -> dict[str, DeviceRecord]:
    """Every registered device by MN, with its current SM4 key and the one before it."""
    with engine.connect() as conn:
        history = _key_history(conn)
        keys = {device_id: hexes[-1] for device_id, hexes in history.items()}
        previous = {device_id: hexes[-2] for device_id, hexes in history.items() if len(hexes) > 1}
        return {
            r.mn: DeviceRecord(
                id=r.id,
                mn=r.mn,
                pw=r.pw,
                name=r.name,
                enterprise=r.enterprise,
                outlet=r.outlet,
                kind=r.kind,
                protocol=r.protocol,
                crc_variants=frozenset(r.crc_variants.split(",")),
                sm4_key=bytes.fromhex(keys[r.id]) if r.id in keys else None,
                previous_sm4_key=bytes.fromhex(previous[r.id]) if r.id in previous else None,
            )
            for r in conn.execute(select(devices))
        }


def put_device(conn: Connection, mn: str, fields: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """Create or update one device by MN (the API's ``PUT``), with the same checks as the device file.

    ``fields``: pw, name, kind, protocol, and optionally enterprise/outlet names (shown until the device sits
    on an outlet), crc_variants, sm4_key (added to the key history), model, serial."""
    rec = {k: str(v).strip() for k, v in fields.items() if v is not None}
    rec["mn"] = mn
    existing = conn.execute(select(devices).where(devices.c.mn == mn)).mappings().first()
    # a device on an outlet shows that outlet's names; a new one needs names until it is placed
    rec.setdefault("enterprise", existing["enterprise"] if existing else "")
    rec.setdefault("outlet", existing["outlet"] if existing else "")
    unknown = set(rec) - {*CSV_COLUMNS, *OPTIONAL_COLUMNS, "model", "serial"}
    if unknown:
        raise InvalidInput(f"unknown device field(s) {', '.join(sorted(unknown))}")
    problems = device_row_problems(rec)
    if problems:
        raise InvalidInput(f"device {mn}: " + "; ".join(problems))
    upsert_device_rows(conn, [device_row_from(rec)], now)
    extra = {k: rec[k] for k in ("model", "serial") if k in rec}
    if extra:
        conn.execute(update(devices).where(devices.c.mn == mn).values(**extra, updated_at=now))
    row = conn.execute(select(devices).where(devices.c.mn == mn)).mappings().one()
    return {k: v for k, v in row.items() if k != "pw"}
