"""The sources of evidence entries (证据来源), and re-checking an entry against its source (来源复核).

Each context submits its facts to the log in the transaction that records them (see
``docs/evidence/entries.md`` for every kind, its ref, payload and where it is submitted). The leaf of an
entry proves the entry was not changed; this module tells whether the *source* still says what was logged:

- a row entry (``core.evidence.submit_row``, payload ``{"table", "id", "row"}``): the row is read again
  (only the columns that were logged) and each column is compared with the logged value after the same
  normalisation (``core.evidence.json_ready``, compared as RFC 8785 canonical JSON);
- a raw packet batch (``raw_batch``, ``ingest.raw_evidence``): the batch digest is recomputed from the
  stored ``raw_packets`` of the batch's ids.

:func:`recheck` returns one line per difference (naming table, id and column), nothing when the source
still equals the log. Entries it cannot judge (a custom payload of a kind this module does not know) give
no line: :func:`can_recheck` says which those are, :func:`unchecked_kinds` which kinds of the log have them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Table, func, select, text

# the schema modules register the source tables on the shared metadata (read by name below)
from envwatch.alarms import orders_schema as _orders  # noqa: F401
from envwatch.alarms import schema as _alarms  # noqa: F401
from envwatch.core import evidence_schema as _core_evidence
from envwatch.core.db import metadata
from envwatch.core.evidence import canonical, json_ready
from envwatch.evidence import schema as _evidence  # noqa: F401
from envwatch.ingest.raw_evidence import KIND as RAW_BATCH
from envwatch.ingest.raw_evidence import batch_digest, batch_ref, id_runs, packet_hash
from envwatch.ingest.schema import raw_packets
from envwatch.monitoring import marks_schema as _marks  # noqa: F401
from envwatch.operations import faults_schema as _faults  # noqa: F401
from envwatch.operations import records_schema as _records  # noqa: F401
from envwatch.operations import tickets_schema as _tickets  # noqa: F401
from envwatch.sampling import schema as _sampling  # noqa: F401

# Every kind of entry, with the name pages show (Chinese, the default locale, and English).
KINDS: Final[dict[str, str]] = {
    "sample_code": "样品唯一性标识码",
    "custody_event": "样品流转记录",
    "mark": "数据标记",
    "mark_review": "标记审核",
    "om_record": "运维记录",
    "om_record_material": "运维记录所用标准物质",
    "manual_result": "手工监测结果",
    "fault": "故障",
    "fault_event": "故障处理记录",
    "ticket": "服务工单",
    "ticket_event": "工单处理记录",
    "production_stop": "停产报告",
    "production_stop_event": "停产报告处理记录",
    "alarm": "报警",
    "alarm_event": "报警处理记录",
    "order": "电子督办",
    "order_event": "督办处理记录",
    RAW_BATCH: "原始报文批次",
    # submitted by the evidence context itself (videos, blobs, self-inspection, verification)
    "video_record": "视频记录",
    "video_annotation": "视频文字注释",
    "blob": "存储文件",
    "self_inspection_outcome": "自查结果",
    "verify_run": "校验记录",
    "checkpoint_timestamp": "检查点可信时间戳",
    # submitted by compliance and reports (issue 9)
    "finding": "合规问题",
    "finding_event": "合规问题处理记录",
    "compliance_run": "合规检查记录",
    "operator_assessment": "运维单位季度考核",
    "credit_event": "运维单位信用记录",
    "supervision_plan": "月度监督检查计划",
    "supervision_result": "现场监督检查结果",
    "spot_test_draw": "年度手工比对抽测名单",
    "spot_test_result": "手工比对抽测结果",
    "report_file": "定期报告",
    "certification_pack": "认证证据包",
    "partition_detached": "数据分区摘离归档",  # core.partitions.retire (issue 10)
}
KINDS_EN: Final[dict[str, str]] = {
    "sample_code": "Sample code",
    "custody_event": "Custody event",
    "mark": "Data mark",
    "mark_review": "Mark review",
    "om_record": "O&M record",
    "om_record_material": "Reference material of an O&M record",
    "manual_result": "Manual monitoring result",
    "fault": "Fault",
    "fault_event": "Fault event",
    "ticket": "Service ticket",
    "ticket_event": "Ticket event",
    "production_stop": "Production stop report",
    "production_stop_event": "Production stop event",
    "alarm": "Alarm",
    "alarm_event": "Alarm event",
    "order": "Supervision order",
    "order_event": "Supervision order event",
    RAW_BATCH: "Raw packet batch",
    "video_record": "Video record",
    "video_annotation": "Video annotation",
    "blob": "Stored file",
    "self_inspection_outcome": "Self-inspection outcome",
    "verify_run": "Verification run",
    "checkpoint_timestamp": "Checkpoint time-stamp",
    "finding": "Compliance finding",
    "finding_event": "Finding event",
    "compliance_run": "Compliance check run",
    "operator_assessment": "Quarterly operator assessment",
    "credit_event": "Operator credit record",
    "supervision_plan": "Monthly supervision plan",
    "supervision_result": "On-site supervision result",
    "spot_test_draw": "Yearly manual spot-test list",
    "spot_test_result": "Manual spot-test result",
    "report_file": "Periodic report",
    "certification_pack": "Certification evidence pack",
    "partition_detached": "Partition detached for archiving",
}
# The table each row kind copies (``submit_row``); raw_batch reads raw_packets.
SOURCE_TABLES: Final[dict[str, str]] = {
    "sample_code": "samples",
    "custody_event": "custody_events",
    "mark": "marks",
    "mark_review": "mark_reviews",
    "om_record": "field_records",
    "om_record_material": "field_record_materials",
    "manual_result": "manual_results",
    "fault": "faults",
    "fault_event": "fault_events",
    "ticket": "tickets",
    "ticket_event": "ticket_events",
    "production_stop": "production_stops",
    "production_stop_event": "production_stop_events",
    "alarm": "alarms",
    "alarm_event": "alarm_events",
    "order": "orders",
    "order_event": "order_events",
    RAW_BATCH: raw_packets.name,
}

SHOWN: Final = 60  # characters of a value a difference line shows
MISSING_SHOWN: Final = 10  # runs of missing packet ids a line names


def kind_name(kind: str, locale: str = "zh_CN") -> str:
    """The name of ``kind`` for a page in ``locale`` (the kind itself when it has none)."""
    names = KINDS_EN if locale == "en" else KINDS
    return names.get(kind, kind)


def _row_table(payload: Mapping[str, Any]) -> Table | None:
    """The table a row payload copies, when the payload is a row copy of a table we know."""
    name, row = payload.get("table"), payload.get("row")
    if not isinstance(name, str) or not isinstance(row, Mapping) or "id" not in payload:
        return None
    table = metadata.tables.get(name)
    return table if table is not None and "id" in table.c else None


def can_recheck(kind: str, payload: Mapping[str, Any]) -> bool:
    """Whether :func:`recheck` can judge this entry (else it returns nothing for it)."""
    if kind == RAW_BATCH:
        return isinstance(payload.get("ids"), list)
    return _row_table(payload) is not None


def recheck(conn: Connection, kind: str, ref: str, payload: Mapping[str, Any]) -> list[str]:
    """The differences between an entry and its source now; empty when they agree (or when the entry
    cannot be re-checked: see :func:`can_recheck`)."""
    if kind == RAW_BATCH:
        return _recheck_raw_batch(conn, ref, payload) if can_recheck(kind, payload) else []
    table = _row_table(payload)
    return [] if table is None else _recheck_row(conn, table, ref, payload)


def unchecked_kinds(conn: Connection) -> list[str]:
    """The kinds in the log whose entries :func:`recheck` cannot judge (judged by each kind's first entry:
    a kind is submitted one way)."""
    e = _core_evidence.evidence_entries.c
    first = select(func.min(e.id)).group_by(e.kind).scalar_subquery()
    out = []
    for kind, body in conn.execute(select(e.kind, e.body).where(e.id.in_(first)).order_by(e.kind)):
        if not can_recheck(kind, json.loads(body).get("payload") or {}):
            out.append(kind)
    return out


def _short(value: Any) -> str:
    text = canonical(value).decode()
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _recheck_row(conn: Connection, table: Table, ref: str, payload: Mapping[str, Any]) -> list[str]:
    row_id, logged = payload["id"], payload["row"]
    where = f"{table.name}/{row_id}"
    lines = [] if ref == where else [f"{ref}: the entry's ref does not name its row {where}"]
    present = [column.name for column in table.columns if column.name in logged]  # in the table's order
    lines += [f"{where} {name}: column missing" for name in logged if name not in table.c]
    columns = [table.c[name] for name in present] or [table.c.id]
    found = conn.execute(select(*columns).where(table.c.id == row_id)).mappings().one_or_none()
    if found is None:
        return [*lines, f"{where}: row missing"]
    for name in present:
        # compared as the canonical bytes the entry was made of: same normalisation, key order ignored
        now = json_ready(found[name])
        if canonical(now) != canonical(logged[name]):
            lines.append(f"{where} {name}: logged {_short(logged[name])}, now {_short(now)}")
    return lines


def _runs_text(runs: Sequence[Sequence[int]]) -> str:
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:MISSING_SHOWN]]
    more = f" and {len(runs) - MISSING_SHOWN} more runs" if len(runs) > MISSING_SHOWN else ""
    return ", ".join(shown) + more


def _retired_packets(conn: Connection, runs: Sequence[Sequence[int]]) -> list[tuple[int, bytes]]:
    """(id, packet hash) of the packets of ``runs`` found in retired raw_packets partitions."""
    from envwatch.core.partitions import detached

    out: list[tuple[int, bytes]] = []
    for table in (t for t in detached(conn) if t.startswith(f"{raw_packets.name}_")):
        for first, last in runs:
            query = text(f'SELECT id, raw FROM "{table}" WHERE id >= :a AND id <= :b')
            out.extend(
                (int(i), packet_hash(bytes(raw))) for i, raw in conn.execute(query, {"a": first, "b": last})
            )
    return out


def _recheck_raw_batch(conn: Connection, ref: str, payload: Mapping[str, Any]) -> list[str]:
    runs = [(int(run[0]), int(run[1])) for run in payload["ids"]]
    lines: list[str] = []
    if not runs:
        return [f"{ref}: the entry lists no packet ids"]
    if ref != batch_ref(runs):
        lines.append(f"{ref}: the entry's ref does not match its ids ({batch_ref(runs)})")
    expected = sum(last - first + 1 for first, last in runs)
    if payload.get("count") != expected:
        lines.append(f"{ref}: the entry counts {payload.get('count')} packets, its ids {expected}")
    p = raw_packets.c
    hashed: list[tuple[int, bytes]] = []
    for first, last in runs:  # primary-key ranges: one indexed read per run
        query = select(p.id, p.raw).where(p.id >= first, p.id <= last).order_by(p.id)
        hashed.extend((int(i), packet_hash(bytes(raw))) for i, raw in conn.execute(query))
    found = {i for i, _h in hashed}
    missing = id_runs(i for first, last in runs for i in range(first, last + 1) if i not in found)
    if missing:  # months retired by `envwatch partitions retire` stay readable in their detached tables
        hashed.extend(_retired_packets(conn, missing))
        hashed.sort()
        found = {i for i, _h in hashed}
        missing = id_runs(i for first, last in runs for i in range(first, last + 1) if i not in found)
    if missing:
        gone = sum(b - a + 1 for a, b in missing)
        lines.append(f"{ref}: {gone} of {expected} packets missing: {raw_packets.name}/{_runs_text(missing)}")
    elif batch_digest(hashed) != payload.get("sha256"):
        # the digest covers the whole batch: it tells that a packet's bytes changed, not which one
        lines.append(
            f"{ref}: the stored bytes no longer match the logged digest (logged {payload.get('sha256')}, "
            f"now {batch_digest(hashed)}): a packet of this batch was changed"
        )
    return lines
