"""Measurements exported as Parquet files for analytics (DuckDB, pandas, Spark): ``envwatch export parquet``.

Theory of operation
-------------------
The store keeps one row per data packet with every factor's fields in a JSON column (monitoring.schema);
analytics want one row per device, DataTime and factor. The export reads the chosen devices one at a time
(the primary key (device_id, kind, data_time, part) serves each query), unfolds each packet into one row
per factor exactly as :func:`envwatch.monitoring.store.read_measurements` does, and appends the rows to
the buffer of their partition ``kind=<kind>/month=<YYYY-MM>`` (China time: the month a regulator means).
A buffer that reaches ``chunk_rows`` rows becomes one Parquet row group, written at once; so memory is
bounded by (partitions open) × ``chunk_rows`` whatever the size of the export. Files are written into a
new directory and closed at the end; then ``manifest.json`` lists each file with its row count, size and
SHA-256, and the filters that produced it. :func:`verify_export` re-hashes the files against it.

Exact values. The value is kept twice:

- ``value`` (string): the Rtd/Avg exactly as the device sent it ("12.30" stays "12.30"), null when it is
  not a number (as in the API): the record, never rounded;
- ``value_decimal`` (decimal128(38, 9)): the same number as an exact decimal for arithmetic (DuckDB sums
  decimals exactly). A value with more than 9 decimals or 29 integer digits does not fit: it is null
  there (the string keeps it) and counted in the manifest (``values_not_in_decimal``), never rounded.

Why not a float: 0.1 + 0.2 is not 0.3, and the figures go to regulators. Why not decimal alone: a fixed
scale writes "12.3" as 12.300000000, and the text the device sent is the evidence.
``fields`` keeps every field of the factor (Avg, Min, Max, Cou, ZsAvg, Flag...) as the JSON object sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput
from envwatch.monitoring.records import factor_values
from envwatch.monitoring.schema import KINDS, measurements
from envwatch.registry.schema import devices, enterprises, outlets

FORMAT = "envwatch-measurements-parquet/1"
DECIMAL = pa.decimal128(38, 9)
_MAX_INTEGER_DIGITS = 38 - 9

SCHEMA = pa.schema(
    [
        pa.field("device_id", pa.int32(), nullable=False),
        pa.field("mn", pa.string(), nullable=False),
        pa.field("data_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("factor", pa.string(), nullable=False),
        pa.field("value", pa.string()),
        pa.field("value_decimal", DECIMAL),
        pa.field("flag", pa.string()),
        pa.field("fields", pa.string(), nullable=False),
        pa.field("backfill", pa.bool_(), nullable=False),
        pa.field("packet_id", pa.int64(), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
_COLUMNS = SCHEMA.names


@dataclass(frozen=True)
class ExportQuery:
    """What to export: kinds over [start, end) (aware datetimes), optionally one region or enterprise."""

    start: datetime
    end: datetime
    kinds: tuple[str, ...] = ("hour",)
    region: str | None = None  # 行政区划代码 prefix: "32" a province, "3205" a city, "320505" a district
    enterprise_id: int | None = None

    def check(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInput("start and end must carry a time zone")
        if self.end <= self.start:
            raise InvalidInput("the period is empty: end must be after start")
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise InvalidInput(f"kinds must be among {', '.join(KINDS)}")
        if self.region is not None and not (self.region.isdigit() and 1 <= len(self.region) <= 6):
            raise InvalidInput("region is a prefix of a 6-digit 行政区划代码")


def china_period(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """The UTC instants bounding China days first_day..last_day (both included)."""
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=CHINA_TZ)
    end = datetime(last_day.year, last_day.month, last_day.day, tzinfo=CHINA_TZ) + timedelta(days=1)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_of(moment: datetime) -> str:
    return f"{moment.astimezone(CHINA_TZ):%Y-%m}"


# --- decimals --------------------------------------------------------------------------------------


def _fits(text: str) -> bool:
    try:
        d = Decimal(text)
    except InvalidOperation:
        return False
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)  # exact_text only lets finite numbers through
    return exponent >= -9 and d.adjusted() < _MAX_INTEGER_DIGITS


def to_decimal_column(values: pa.Array) -> tuple[pa.Array, int]:
    """The string values as decimal128(38, 9), and how many did not fit (null there, never rounded)."""
    try:
        return pc.cast(values, DECIMAL), 0
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # some value has too many digits: the slow path, value by value
    out: list[Decimal | None] = []
    lost = 0
    for text in values.to_pylist():
        if text is None:
            out.append(None)
        elif _fits(text):
            out.append(Decimal(text))
        else:
            out.append(None)
            lost += 1
    return pa.array(out, type=DECIMAL), lost


# --- the writer ------------------------------------------------------------------------------------


@dataclass
class FileEntry:
    path: str  # relative to the export directory
    kind: str
    month: str
    rows: int = 0
    bytes: int = 0
    sha256: str = ""


@dataclass
class _Partition:
    entry: FileEntry
    writer: pq.ParquetWriter
    buffer: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in _COLUMNS})

    @property
    def buffered(self) -> int:
        return len(self.buffer["device_id"])


class PartitionedWriter:
    """Rows into ``kind=<kind>/month=<YYYY-MM>/part-0.parquet`` files, one row group per ``chunk_rows``.

    ``add_record`` buffers plain Python values (the export from the store); ``write_table`` writes a ready
    Arrow table of :data:`SCHEMA` (value_decimal filled by the caller) to the same files with the same
    settings (the benchmark's generator). ``close`` finishes every file and writes the manifest.
    """

    def __init__(self, out_dir: Path, *, chunk_rows: int = 100_000, compression: str = "zstd") -> None:
        if out_dir.exists() and any(out_dir.iterdir()):
            raise InvalidInput(f"{out_dir} is not empty: an export goes into a new directory")
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.chunk_rows = chunk_rows
        self.compression = compression
        self.partitions: dict[tuple[str, str], _Partition] = {}
        self.rows = 0
        self.values_not_in_decimal = 0

    def _partition(self, kind: str, month: str) -> _Partition:
        part = self.partitions.get((kind, month))
        if part is None:
            rel = f"kind={kind}/month={month}/part-0.parquet"
            path = self.out_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, SCHEMA, compression=self.compression)
            part = self.partitions[(kind, month)] = _Partition(FileEntry(rel, kind, month), writer)
        return part

    def add_record(
        self,
        kind: str,
        month: str,
        device_id: int,
        mn: str,
        data_time_us: int,
        backfill: bool,
        packet_id: int,
        received_at_us: int,
        factors: Sequence[tuple[str, str | None, str | None, str]],
    ) -> None:
        """The rows of one stored record: ``factors`` are (factor, value, flag, fields as JSON); times in
        microseconds since the epoch (UTC). One call per record, not per row: this is the hot loop."""
        part = self._partition(kind, month)
        b = part.buffer
        k = len(factors)
        b["device_id"].extend([device_id] * k)
        b["mn"].extend([mn] * k)
        b["data_time"].extend([data_time_us] * k)
        b["backfill"].extend([backfill] * k)
        b["packet_id"].extend([packet_id] * k)
        b["received_at"].extend([received_at_us] * k)
        for factor, value, flag, fields_json in factors:
            b["factor"].append(factor)
            b["value"].append(value)
            b["flag"].append(flag)
            b["fields"].append(fields_json)
        if part.buffered >= self.chunk_rows:
            self._flush(part)

    def _flush(self, part: _Partition) -> None:
        if not part.buffered:
            return
        b = part.buffer
        values = pa.array(b["value"], type=pa.string())
        decimals, lost = to_decimal_column(values)
        self.values_not_in_decimal += lost
        arrays = {}
        for name in _COLUMNS:
            if name in ("data_time", "received_at"):  # microseconds: far cheaper than datetime objects
                arrays[name] = pa.array(b[name], type=pa.int64()).cast(SCHEMA.field(name).type)
            elif name != "value_decimal":
                arrays[name] = pa.array(b[name], type=SCHEMA.field(name).type)
        arrays["value"] = values
        arrays["value_decimal"] = decimals
        self._write(part, pa.Table.from_pydict({n: arrays[n] for n in _COLUMNS}, schema=SCHEMA))
        part.buffer = {c: [] for c in _COLUMNS}

    def _write(self, part: _Partition, table: pa.Table) -> None:
        part.writer.write_table(table, row_group_size=max(self.chunk_rows, table.num_rows))
        part.entry.rows += table.num_rows
        self.rows += table.num_rows

    def write_table(self, kind: str, month: str, table: pa.Table) -> None:
        self._write(self._partition(kind, month), table)

    def close(self, manifest_extra: dict[str, Any]) -> dict[str, Any]:
        """Flush, close every file, hash it; write and return the manifest."""
        entries: list[FileEntry] = []
        for part in self.partitions.values():
            self._flush(part)
            part.writer.close()
            path = self.out_dir / part.entry.path
            part.entry.bytes = path.stat().st_size
            part.entry.sha256 = sha256_of(path)
            entries.append(part.entry)
        entries.sort(key=lambda e: (e.kind, e.month))
        manifest = {
            "format": FORMAT,
            **manifest_extra,
            "rows": self.rows,
            "values_not_in_decimal": self.values_not_in_decimal,
            "schema": {f.name: str(f.type) for f in SCHEMA},
            "files": [vars(e) for e in entries],
        }
        (self.out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        return manifest


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_export(out_dir: Path) -> list[str]:
    """What does not match the manifest (missing files, other sizes, hashes or row counts); [] if all."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    problems: list[str] = []
    for entry in manifest["files"]:
        path = out_dir / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
            continue
        if sha256_of(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: SHA-256 differs from the manifest")
        elif pq.ParquetFile(path).metadata.num_rows != entry["rows"]:
            problems.append(f"{entry['path']}: row count differs from the manifest")
    return problems


# --- from the store --------------------------------------------------------------------------------


def selected_devices(engine: Engine, q: ExportQuery) -> list[tuple[int, str]]:
    """(id, MN) of the devices in scope, in id order."""
    d = devices.c
    query = select(d.id, d.mn).order_by(d.id)
    if q.region is not None or q.enterprise_id is not None:
        query = query.join(outlets, outlets.c.id == d.outlet_id).join(
            enterprises, enterprises.c.id == outlets.c.enterprise_id
        )
        if q.region is not None:
            query = query.where(enterprises.c.region_code.startswith(q.region))
        if q.enterprise_id is not None:
            query = query.where(enterprises.c.id == q.enterprise_id)
    with engine.connect() as conn:
        return [(int(r.id), str(r.mn)) for r in conn.execute(query)]


def _device_records(engine: Engine, device_id: int, q: ExportQuery) -> Iterator[Any]:
    m = measurements.c
    query = (
        select(m.kind, m.data_time, m.part, m.factors, m.packet_id, m.backfill, m.received_at)
        .where(m.device_id == device_id, m.kind.in_(q.kinds), m.data_time >= q.start, m.data_time < q.end)
        .order_by(m.kind, m.data_time, m.part)
    )
    with engine.connect() as conn:
        yield from conn.execution_options(yield_per=2000).execute(query)


def export_measurements(
    engine: Engine,
    q: ExportQuery,
    out_dir: Path,
    *,
    chunk_rows: int = 100_000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Export the measurements ``q`` selects into ``out_dir`` (new or empty); returns the manifest.

    ``progress(devices_done, devices_total)`` is called after each device."""
    q.check()
    chosen = selected_devices(engine, q)
    writer = PartitionedWriter(out_dir, chunk_rows=chunk_rows)
    months = _MonthOf()
    for done, (device_id, mn) in enumerate(chosen, 1):
        for record in _device_records(engine, device_id, q):
            factors = record.factors
            if isinstance(factors, str):
                factors = orjson.loads(factors)
            data_time = _utc(record.data_time)
            writer.add_record(
                record.kind,
                months(data_time),
                device_id,
                mn,
                (data_time - _EPOCH) // _MICROSECOND,
                bool(record.backfill),
                int(record.packet_id),
                (_utc(record.received_at) - _EPOCH) // _MICROSECOND,
                [
                    (fv.factor, fv.value, fv.flag, orjson.dumps(fv.fields).decode())
                    for fv in factor_values(record.kind, factors)
                ],
            )
        if progress is not None:
            progress(done, len(chosen))
    return writer.close(
        {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "query": {
                "start": q.start.isoformat(),
                "end": q.end.isoformat(),
                "kinds": list(q.kinds),
                "region": q.region,
                "enterprise_id": q.enterprise_id,
            },
            "devices": len(chosen),
            "partitioning": "kind=<kind>/month=<YYYY-MM, China time>",
            "decimal": "value: exact text as sent; value_decimal: decimal128(38, 9), null where it does not fit",
        }
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class _MonthOf:
    """month_of for times mostly in order: recomputed only when a time leaves the month last seen."""

    def __init__(self) -> None:
        self.start = self.end = _EPOCH
        self.label = ""

    def __call__(self, moment: datetime) -> str:
        if not self.start <= moment < self.end:
            china = moment.astimezone(CHINA_TZ)
            first = china.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            following = (first + timedelta(days=32)).replace(day=1)
            self.start, self.end = first.astimezone(UTC), following.astimezone(UTC)
            self.label = f"{china:%Y-%m}"
        return self.label


def _utc(moment: datetime) -> datetime:
    # SQLite gives back what UtcDateTime stored (aware UTC); be explicit for PyArrow all the same
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_rows(paths: Iterable[Path] | Sequence[Path]) -> list[dict[str, Any]]:
    """Every row of some export files as dicts (tests and small checks; not for big exports)."""
    out: list[dict[str, Any]] = []
    for path in paths:
        out.extend(pq.read_table(path).to_pylist())
    return out
