"""The certification evidence pack on real stores (SQLite and PostgreSQL): its KPIs from the quarter's data,
byte-for-byte reproducibility, its contents against the manifest, the evidence index and the record of
makes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.operations import tickets as ticket_store
from envwatch.reports.certification_kpis import certification_kpis
from envwatch.reports.certification_pack import make_pack, pack_history, write_pack
from envwatch.reports.certification_tables import TABLES
from tests.operations.records_world import NOW
from tests.reports.test_certification_pack_world import FIRST, LAST, at, build_quarter


def _pack(engine: Engine, settings: Settings, op: int) -> bytes:
    out = io.BytesIO()
    write_pack(engine, settings, op, FIRST, LAST, now=NOW, out=out)
    return out.getvalue()


def _csv(archive: zipfile.ZipFile, path: str) -> list[dict[str, str]]:
    text = archive.read(path).decode("utf-8")
    assert text.startswith("\ufeff"), f"{path} has no BOM"
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_kpis_from_the_quarter(engine: Engine, settings: Settings) -> None:
    w, _ = build_quarter(engine, settings)
    got = certification_kpis(engine, settings, w.op, FIRST, LAST, NOW).by_key()
    # one ticket responded in 30 min, the other in 3 h (> 1 h): 50 %, not met
    assert (got["respond_1h"].value, got["respond_1h"].met) == (50, False)
    assert (got["respond_1h"].numerator, got["respond_1h"].denominator) == (1, 2)
    # surveys 5 and 2: 50 % < 85 %
    assert (str(got["satisfaction"].value), got["satisfaction"].met) == ("50.0", False)
    # a drill in August: met for 2026 although the year is not over
    assert (got["drills"].value, got["drills"].met) == (1, True)
    # the quarterly training of September was held
    assert got["trainings"].met is True and got["trainings"].numerator == 1
    # 张三 valid all year, 李四 until 2026-10-31 (valid on 09-30): both field engineers, 王五 left
    assert (got["certificates"].numerator, got["certificates"].denominator, got["certificates"].met) == (
        2,
        2,
        True,
    )
    # 10 of the 92 days signed off
    assert (got["daily_audit"].numerator, got["daily_audit"].denominator, got["daily_audit"].met) == (
        10,
        92,
        False,
    )
    # 13 whole weeks × 2 devices of 甲; only the gas device's first and second weeks had an inspection
    assert (got["inspections"].numerator, got["inspections"].denominator) == (2, 26)
    assert got["findings"].value == 1 and got["findings"].met is False
    assert got["effective_rate"].requirement == "CS-4.3.2.1"


def test_kpis_met_and_refused(engine: Engine, settings: Settings) -> None:
    w, _ = build_quarter(engine, settings)
    got = certification_kpis(engine, settings, w.other_op, FIRST, LAST, NOW).by_key()
    assert got["respond_1h"].met is None and got["satisfaction"].met is None  # no tickets: no figure
    assert got["drills"].met is None  # 2026 not over and no drill: not decidable yet
    assert got["trainings"].met is False  # Q3 is over and 运维乙 held none
    assert got["findings"].met is True
    q4 = certification_kpis(engine, settings, w.op, date(2026, 10, 1), date(2026, 12, 31), NOW).by_key()
    assert q4["certificates"].met is False  # 李四's certificate ended 2026-10-31
    with pytest.raises(InvalidInput, match="after"):
        certification_kpis(engine, settings, w.op, LAST, FIRST, NOW)
    with pytest.raises(InvalidInput, match="at most 366"):
        certification_kpis(engine, settings, w.op, date(2025, 1, 1), LAST, NOW)
    with pytest.raises(NotFound):
        certification_kpis(engine, settings, 9999, FIRST, LAST, NOW)


def test_two_makes_are_byte_identical_and_a_new_event_changes_the_hash(
    engine: Engine, settings: Settings
) -> None:
    w, ids = build_quarter(engine, settings)
    one, two = _pack(engine, settings, w.op), _pack(engine, settings, w.op)
    assert one == two
    with engine.begin() as conn:  # a comment on a ticket of the period
        ticket_store.record_event(
            conn, ids["tickets"][0], event="comment", at=NOW, comment="回访补充", by="op", now=NOW
        )
    three = _pack(engine, settings, w.op)
    assert hashlib.sha256(three).digest() != hashlib.sha256(one).digest()
    with zipfile.ZipFile(io.BytesIO(three)) as archive:
        assert len(_csv(archive, "tickets/ticket_events.csv")) == 13


def test_contents_match_the_manifest(engine: Engine, settings: Settings) -> None:
    w, ids = build_quarter(engine, settings)
    data = _pack(engine, settings, w.op)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        infos = archive.infolist()
        manifest = json.loads(archive.read("manifest.json"))
        expected = {"README.txt", "kpis.json", "kpis.csv", "evidence_index.csv", "manifest.json"}
        expected |= {t.path for t in TABLES}
        assert set(names) == expected
        assert names[-2:] == ["evidence_index.csv", "manifest.json"]
        assert names[:-2] == sorted(names[:-2])
        assert all(i.date_time == (2026, 9, 30, 0, 0, 0) and i.external_attr >> 16 == 0o100644 for i in infos)
        assert all(not i.comment and not i.extra for i in infos)
        assert manifest["period"] == {"from": "2026-07-01", "to": "2026-09-30"}
        assert manifest["operator"]["id"] == w.op
        assert "generated" not in json.dumps(manifest) and "made_by" not in json.dumps(manifest)
        assert {"CS-4.3.2.1", "CS-4.3.3", "CS-4.2.3", "CS-4.5", "CS-4.3.2.2", "SX-20.3"} <= set(
            manifest["requirements"]
        )
        listed = {f["path"]: f for f in manifest["files"]}
        assert set(listed) == expected - {"manifest.json"}
        for path, entry in listed.items():
            assert hashlib.sha256(archive.read(path)).hexdigest() == entry["sha256"], path
            if path.endswith(".csv"):
                assert len(_csv(archive, path)) == entry["rows"], path
        records = _csv(archive, "ledgers/field_records.csv")
        assert [int(r["id"]) for r in records] == sorted(ids["records"])
        corrected = next(r for r in records if int(r["id"]) == ids["records"][1])
        assert corrected["current"] == "false" and int(corrected["superseded_by"]) == ids["records"][2]
        assert [int(r["id"]) for r in _csv(archive, "tickets/tickets.csv")] == ids["tickets"]
        assert [r["respond_clock"] for r in _csv(archive, "tickets/tickets.csv")] == ["met", "breached"]
        assert [r["satisfied"] for r in _csv(archive, "tickets/satisfaction.csv")] == ["true", "false"]
        assert len(_csv(archive, "tickets/ticket_events.csv")) == 12
        assert [int(r["id"]) for r in _csv(archive, "ledgers/drills.csv")] == [ids["drill"]]
        assert _csv(archive, "ledgers/equipment.csv")[0]["next_verification_due_at_end"] == "2027-07-20"
        assert _csv(archive, "ledgers/spare_parts.csv")[0]["stock_at_end"] == "2"
        assert len(_csv(archive, "audits/audit_days.csv")) == 92
        assert [int(r["id"]) for r in _csv(archive, "findings/findings.csv")] == [ids["finding"]]
        staff = {r["name"]: r for r in _csv(archive, "staff/staff.csv")}
        assert "phone" not in next(iter(staff.values()))
        assert staff["李四"]["certificate_status_at_end"] in ("valid", "expiring")
        kpis = json.loads(archive.read("kpis.json"))
        assert [k["key"] for k in kpis["kpis"]] == [r["key"] for r in _csv(archive, "kpis.csv")]
        index = _csv(archive, "evidence_index.csv")
        tables = {r["table"] for r in index}
        assert {"field_records", "tickets", "ticket_events", "finding_events"} <= tables
        with engine.connect() as conn:
            for row in index:
                ref = conn.execute(
                    select(evidence_entries.c.ref).where(evidence_entries.c.id == int(row["entry_id"]))
                ).scalar_one()
                assert ref == f"{row['table']}/{row['row_id']}"
        readme = archive.read("README.txt").decode("utf-8")
        assert "认证证据包" in readme and "Certification evidence pack" in readme


def test_other_operator_rows_stay_out(engine: Engine, settings: Settings) -> None:
    w, _ = build_quarter(engine, settings)
    with zipfile.ZipFile(io.BytesIO(_pack(engine, settings, w.other_op))) as archive:
        for table in (
            "ledgers/field_records.csv",
            "tickets/tickets.csv",
            "ledgers/drills.csv",
            "findings/findings.csv",
        ):
            assert _csv(archive, table) == [], table
        assert {r["name"] for r in _csv(archive, "staff/staff.csv")} == {"赵六"}


def test_make_records_and_same_as_before(engine: Engine, settings: Settings) -> None:
    w, ids = build_quarter(engine, settings)
    out = io.BytesIO()
    first = make_pack(engine, settings, w.op, FIRST, LAST, out=out, made_by="admin", now=NOW)
    assert first.same_as is None and first.result.sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    assert first.result.size == len(out.getvalue())
    second = make_pack(
        engine, settings, w.op, FIRST, LAST, out=None, made_by="auditor1", now=NOW + timedelta(hours=1)
    )
    assert second.same_as == first.id and second.result.sha256 == first.result.sha256
    with engine.begin() as conn:
        ticket_store.record_event(
            conn, ids["tickets"][1], event="comment", at=NOW, comment="补充", by="op", now=NOW
        )
    third = make_pack(
        engine, settings, w.op, FIRST, LAST, out=None, made_by="admin", now=NOW + timedelta(hours=2)
    )
    assert third.same_as is None
    other_period = make_pack(
        engine, settings, w.op, FIRST, date(2026, 8, 31), out=None, made_by="admin", now=NOW
    )
    with engine.connect() as conn:
        history = pack_history(conn, w.op)
        assert [h["id"] for h in history] == [other_period.id, third.id, second.id, first.id]
        assert [h["same_as_before"] for h in history] == [None, None, first.id, None]
        assert [h["id"] for h in pack_history(conn, w.op, within=(FIRST, date(2026, 8, 31)))] == [
            other_period.id
        ]
        logged = conn.execute(
            select(func.count())
            .select_from(evidence_entries)
            .where(evidence_entries.c.kind == "certification_pack")
        ).scalar_one()
    assert logged == 4
    with pytest.raises(InvalidInput, match="made_by"):
        make_pack(engine, settings, w.op, FIRST, LAST, out=None, made_by=" ", now=NOW)


def test_kpi_figures_in_the_pack_equal_the_services(engine: Engine, settings: Settings) -> None:
    """kpis.json carries exactly the figures of the KPI service (which the API tests compare with the APIs)."""
    w, _ = build_quarter(engine, settings)
    kpis = certification_kpis(engine, settings, w.op, FIRST, LAST, NOW).as_dict()
    with zipfile.ZipFile(io.BytesIO(_pack(engine, settings, w.op))) as archive:
        packed = json.loads(archive.read("kpis.json"))
    assert packed["kpis"] == json.loads(json.dumps(kpis["kpis"]))
    assert at(FIRST, 0).date() == FIRST
