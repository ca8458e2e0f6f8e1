"""The certification evidence pack (认证证据包, CS-5/6): one zip per operator and period with the KPIs, the
ledgers, staff, trainings, drills, tickets, satisfaction, findings and daily audits an auditor reviews, and
the record of each pack made.

Theory of operation
-------------------
- **Reproducible.** The zip is a function of the data: entries in a fixed order (every data file sorted by
  path, then ``evidence_index.csv`` and ``manifest.json``, which describe the others), each with the date of
  the period's last day at 00:00 (never the clock), permissions 0644, no comments and no extra fields,
  deflated at a fixed level; CSV files are UTF-8 with a BOM (Excel opens them as UTF-8), CRLF line ends,
  fixed columns and rows sorted by id; JSON is canonical (sorted keys). The manifest holds no time and no
  user name. So the same data gives the same bytes, and an unchanged SHA-256 shows that nothing changed.
  (The same zlib is assumed: another deflate implementation could compress the same content differently.)
- **Streamed.** The zip is written to any writable object through a sink that cannot seek, so the bytes
  do not depend on where they go (a file, a response, a hash); one table is held in memory at a time.
- **One snapshot.** The tables are read in one transaction (REPEATABLE READ on PostgreSQL).
- **Evidence index.** For every row of the pack that has an entry in the evidence log (``evidence_entries``
  ref ``<table>/<id>``), the entry id, its kind and its leaf index once integrated: an auditor asks for the
  inclusion proof of any of them (``envwatch evidence export entry:<id>``, docs/evidence/verify.md). An
  entry integrated after an earlier pack gains its leaf index, so that pack and a later one differ.
- **Record of makes.** :func:`make_pack` writes the zip and records a ``certification_packs`` row (operator,
  period, SHA-256, size, who, when) with its ``certification_pack`` evidence entry; ``same_as`` names the
  latest earlier pack of the same operator and period with the same hash ("the data has not changed since
  pack #N").
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, Final, cast

from sqlalchemy import Connection, Engine, insert, select

from envwatch.core.errors import InvalidInput
from envwatch.core.evidence import submit_row
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence.schema import evidence_leaves
from envwatch.registry.service_operators import get_operator
from envwatch.reports.certification_kpis import (
    KpiSet,
    certification_kpis,
    check_period,
    contracted_devices,
    requirement_ids,
)
from envwatch.reports.certification_tables import TABLES, PackContext, PackTable, cell, ids_of, row_cells
from envwatch.reports.periodic_schema import certification_packs

FORMAT: Final = "envwatch-certification-pack"
VERSION: Final = 1
EVIDENCE_KIND: Final = "certification_pack"
BOM: Final = "\ufeff"
COMPRESS_LEVEL: Final = 6
REF_CHUNK: Final = 500  # refs per evidence-index query
MADE_BY_MAX: Final = 100
KPI_COLUMNS: Final = ("key", "requirement", "title", "title_zh", "target", "value", "unit", "numerator", "denominator", "met")  # fmt: skip
INDEX_COLUMNS: Final = ("table", "row_id", "entry_id", "kind", "leaf_index")
_p = certification_packs.c


@dataclass(frozen=True)
class PackFile:
    """One file of the zip as the manifest lists it."""

    path: str
    sha256: str
    rows: int | None  # data rows of a CSV (header excluded); None for README and JSON
    size: int
    description: str
    description_zh: str
    requirement: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "rows": self.rows,
            "bytes": self.size,
            "description": self.description,
            "description_zh": self.description_zh,
            "requirement": self.requirement,
        }


@dataclass(frozen=True)
class PackResult:
    """A written pack: the zip's SHA-256 and size, its files (the manifest last) and its KPIs."""

    sha256: str
    size: int
    files: list[PackFile]
    kpis: KpiSet


@dataclass(frozen=True)
class MadePack:
    """A recorded make: the row's id, the result, and the earlier pack of the same operator and period with
    the same hash (None: the data changed, or no earlier pack)."""

    id: int
    result: PackResult
    same_as: int | None


class _Sink:
    """Writes through to ``out`` while hashing and counting; no ``tell``/``seek``, so ``zipfile`` streams
    (data descriptors) whatever ``out`` is, and the bytes are the same for a file, a response or a hash."""

    def __init__(self, out: IO[bytes] | None) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        if self.out is not None:
            self.out.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        if self.out is not None and hasattr(self.out, "flush"):
            self.out.flush()


class _Entry:
    """One zip entry being written: hashes the uncompressed content."""

    def __init__(self, archive: zipfile.ZipFile, path: str, day: date) -> None:
        info = zipfile.ZipInfo(path, date_time=(day.year, day.month, day.day, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # unix, so the permissions below mean what they say
        info.external_attr = 0o100644 << 16
        self._stream = archive.open(info, "w")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._stream.write(data)
        self.hash.update(data)
        self.size += len(data)

    def close(self) -> None:
        self._stream.close()


def _csv_line(cells: Sequence[str]) -> bytes:
    """One CSV line (RFC 4180 quoting, CRLF), the same for every Python: quote a cell holding a comma, a
    quote, a line break or leading/trailing space."""
    out = []
    for value in cells:
        if any(ch in value for ch in ',"\r\n') or value != value.strip():
            value = '"' + value.replace('"', '""') + '"'
        out.append(value)
    return (",".join(out) + "\r\n").encode("utf-8")


def canonical_json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


def _readme(operator: dict[str, Any], first: date, last: date, tables: Iterable[PackTable]) -> bytes:
    lines = [
        "认证证据包 / Certification evidence pack (CS-5/6)",
        f"运维单位 / Operator: {operator['name']} ({operator['credit_code']}, id {operator['id']})",
        f"期间（中国日历日）/ Period (China calendar days): {first.isoformat()} .. {last.isoformat()}",
        "",
        "本证据包由平台数据生成：相同的数据生成字节完全相同的文件；manifest.json 列出每个文件的 SHA-256 和行数。",
        "The pack is generated from the platform's data: the same data gives the same bytes; manifest.json lists",
        "each file's SHA-256 and row count. CSV: UTF-8 with BOM, times in UTC (…Z), rows sorted by id.",
        "",
        "文件 / Files:",
        "  README.txt — 本说明 / this description",
        "  kpis.json, kpis.csv — 关键指标：要求编号、目标、数值、是否达标 / KPIs: requirement, target, value, met",
    ]
    for t in tables:
        lines.append(f"  {t.path} — {t.description_zh} / {t.description} ({t.requirement})")
    lines += [
        "  evidence_index.csv — 包内各行在存证日志中的条目编号与叶子序号 / the evidence log entry and leaf of each",
        "      row that has one: ask for its inclusion proof with `envwatch evidence export entry:<entry_id>`",
        "  manifest.json — 运维单位、期间、要求编号、各文件的 SHA-256 与行数 / operator, period, requirement IDs,",
        "      each file's SHA-256 and row count",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


def _evidence_index(conn: Connection, ids: dict[str, set[int]]) -> list[dict[str, Any]]:
    """The evidence entries of the pack's rows (refs ``<table>/<id>``) with their leaf index, if any."""
    refs = [f"{table}/{i}" for table in sorted(ids) for i in sorted(ids[table])]
    found: list[dict[str, Any]] = []
    e = evidence_entries.c
    for n in range(0, len(refs), REF_CHUNK):
        query = (
            select(e.id, e.kind, e.ref, evidence_leaves.c.leaf_index)
            .outerjoin(evidence_leaves, evidence_leaves.c.entry_id == e.id)
            .where(e.ref.in_(refs[n : n + REF_CHUNK]))
        )
        for row in conn.execute(query):
            table, _, row_id = str(row.ref).partition("/")
            found.append(
                {"table": table, "row_id": int(row_id), "entry_id": int(row.id), "kind": row.kind,
                 "leaf_index": None if row.leaf_index is None else int(row.leaf_index)}
            )  # fmt: skip
    return sorted(found, key=lambda r: (r["table"], r["row_id"], r["entry_id"]))


def _snapshot(engine: Engine) -> Connection:
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def write_pack(
    engine: Engine,
    settings: Settings,
    operator_id: int,
    first: date,
    last: date,
    *,
    now: datetime,
    out: IO[bytes] | None = None,
) -> PackResult:
    """Write the pack of ``operator_id`` over China days first..last to ``out`` (None: only hash it, e.g.
    to show what a pack would hold). NotFound for an unknown operator; InvalidInput for a bad period."""
    check_period(first, last)
    sink = _Sink(out)
    files: list[PackFile] = []
    with _snapshot(engine) as conn, conn.begin():
        operator = get_operator(conn, operator_id)
        kpis = certification_kpis(engine, settings, operator_id, first, last, now, conn=conn)
        ctx = PackContext(
            conn, settings, operator_id, first, last, now, contracted_devices(conn, operator_id, first, last)
        )
        target = cast(IO[bytes], sink)  # writes only: zipfile streams with data descriptors
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:

            def put(
                path: str, chunks: Iterable[bytes], rows: int | None, what: tuple[str, str, str | None]
            ) -> None:
                entry = _Entry(archive, path, last)
                for chunk in chunks:
                    entry.write(chunk)
                entry.close()
                files.append(PackFile(path, entry.hash.hexdigest(), rows, entry.size, *what))

            def csv_chunks(columns: Sequence[str], lines: Iterable[Sequence[str]]) -> Iterable[bytes]:
                yield BOM.encode("utf-8") + _csv_line(columns)
                for line in lines:
                    yield _csv_line(line)

            kpi_rows = [k.as_dict() for k in kpis.kpis]
            data: dict[str, tuple[Iterable[bytes], int | None, tuple[str, str, str | None]]] = {
                "README.txt": ([_readme(operator, first, last, TABLES)], None, ("This description", "本说明", None)),
                "kpis.json": (
                    [canonical_json({"format": FORMAT, "version": VERSION, **kpis.as_dict()})], None,
                    ("KPIs with requirement, target, value and whether met", "关键指标（JSON）", "CS-5/6"),
                ),
                "kpis.csv": (
                    csv_chunks(KPI_COLUMNS, ([cell(k[c]) for c in KPI_COLUMNS] for k in kpi_rows)), len(kpi_rows),
                    ("KPIs (the same as kpis.json, without the details)", "关键指标（CSV）", "CS-5/6"),
                ),
            }  # fmt: skip
            tables = {t.path: t for t in TABLES}
            ids: dict[str, set[int]] = {}
            for path in sorted([*data, *tables]):
                if path in data:
                    put(path, *data[path])
                    continue
                table = tables[path]
                rows = table.read(ctx)  # one table in memory at a time
                if table.source is not None:
                    ids.setdefault(table.source, set()).update(ids_of(rows))
                put(path, csv_chunks(table.columns, (row_cells(table, r) for r in rows)), len(rows),
                    (table.description, table.description_zh, table.requirement))  # fmt: skip
                del rows
            index = _evidence_index(conn, ids)
            put(
                "evidence_index.csv",
                csv_chunks(INDEX_COLUMNS, ([cell(r[c]) for c in INDEX_COLUMNS] for r in index)),
                len(index),
                (
                    "Evidence log entries of the pack's rows, with their leaf index",
                    "包内各行的存证条目与叶子序号",
                    None,
                ),
            )
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "operator": {
                    "id": operator["id"],
                    "name": operator["name"],
                    "credit_code": operator["credit_code"],
                },
                "period": {"from": first.isoformat(), "to": last.isoformat()},
                "requirements": sorted(
                    {*requirement_ids(kpis.kpis), *(t.requirement for t in TABLES), "CS-5/6"}
                ),
                "kpis": {
                    "met": sum(1 for k in kpis.kpis if k.met is True),
                    "not_met": sum(1 for k in kpis.kpis if k.met is False),
                    "undecided": sum(1 for k in kpis.kpis if k.met is None),
                },
                "files": [f.as_dict() for f in sorted(files, key=lambda f: f.path)],
            }
            put("manifest.json", [canonical_json(manifest)], None, ("Operator, period, requirement IDs, each file's SHA-256 and rows", "清单", None))  # fmt: skip
    sink.flush()
    return PackResult(sink.hash.hexdigest(), sink.size, files, kpis)


def make_pack(
    engine: Engine,
    settings: Settings,
    operator_id: int,
    first: date,
    last: date,
    *,
    out: IO[bytes] | None,
    made_by: str,
    now: datetime,
) -> MadePack:
    """Write the pack to ``out`` and record the make (``certification_packs`` + its evidence entry)."""
    who = made_by.strip()
    if not who or len(who) > MADE_BY_MAX:
        raise InvalidInput(f"made_by must be 1..{MADE_BY_MAX} characters")
    result = write_pack(engine, settings, operator_id, first, last, now=now, out=out)
    with engine.begin() as conn:
        earlier = conn.execute(
            select(_p.id)
            .where(
                _p.operator_id == operator_id,
                _p.first_day == first,
                _p.last_day == last,
                _p.sha256 == result.sha256,
            )
            .order_by(_p.id.desc())
            .limit(1)
        ).scalar()
        values = {
            "operator_id": operator_id, "first_day": first, "last_day": last, "sha256": result.sha256,
            "size": result.size, "made_by": who, "made_at": now,
        }  # fmt: skip
        pack_id = int(
            conn.execute(insert(certification_packs).values(**values).returning(_p.id)).scalar_one()
        )
        submit_row(conn, certification_packs, pack_id, kind=EVIDENCE_KIND, now=now)
    return MadePack(pack_id, result, None if earlier is None else int(earlier))


def pack_history(
    conn: Connection, operator_id: int, *, within: tuple[date, date] | None = None
) -> list[dict[str, Any]]:
    """The packs made of ``operator_id``, newest first; each with ``same_as_before``: the latest earlier pack
    of the same period with the same SHA-256 (None otherwise). ``within``: only packs whose period lies in it
    (an auditor's)."""
    query = select(certification_packs).where(_p.operator_id == operator_id).order_by(_p.id)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    seen: dict[tuple[date, date, str], int] = {}
    for row in rows:
        key = (row["first_day"], row["last_day"], row["sha256"])
        row["same_as_before"] = seen.get(key)
        seen[key] = row["id"]
    if within is not None:
        rows = [r for r in rows if within[0] <= r["first_day"] and r["last_day"] <= within[1]]
    return rows[::-1]


def open_pack(data: bytes) -> zipfile.ZipFile:
    """A pack's bytes as a readable zip (tests, the CLI's check)."""
    return zipfile.ZipFile(io.BytesIO(data))
