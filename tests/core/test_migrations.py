"""Migrations produce exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from envwatch.migrations import alembic_config, current_revision, include_name, target_metadata, upgrade
from envwatch.operations.faults_schema import faults, manual_results
from envwatch.operations.staff_schema import staff, staff_certificates
from envwatch.registry.models import OperatorIn, credit_code_check_char
from envwatch.registry.schema import devices
from envwatch.registry.service_operators import create_operator
from envwatch.registry.store import import_devices
from tests.helpers import GAS_MN, NOW, device_row


def test_schema_matches_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name}),
            target_metadata(),
        )
    assert diff == []
    assert current_revision(engine) is not None


def test_downgrade_and_upgrade_again(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "base")
    assert "raw_packets" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "raw_packets" in inspect(engine).get_table_names()


# ---- 0011: the corrected evidence tables stay append-only through the SQLite table rebuild ----

CORRECTED = ("staff_certificates", "manual_results")


def _evidence(engine: Engine) -> None:
    """One certificate and one manual result, written with the columns 0010 knows."""
    import_devices(engine, [device_row(GAS_MN)], NOW)
    with engine.begin() as conn:
        operator = create_operator(conn, OperatorIn(name="运维甲", credit_code=_credit_code()), NOW)["id"]
        person = conn.execute(
            insert(staff).values(
                operator_id=operator, name="张三", position="field_engineer", phone="13800138000",
                username="zs", active=True, created_at=NOW, updated_at=NOW,
            ).returning(staff.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            insert(staff_certificates).values(
                staff_id=person, kind="上岗证", number="ZJ-001", issuer="协会", issued_on=date(2026, 1, 1),
                valid_until=date(2028, 12, 31), recorded_by="op", recorded_at=NOW,
            )
        )  # fmt: skip
        device = conn.execute(select(devices.c.id).where(devices.c.mn == GAS_MN)).scalar_one()
        fault = conn.execute(
            insert(faults).values(
                device_id=device, factors="a21026", description="泵坏", state="on_backup", started_at=NOW,
                backup_kind="manual", backup_started_at=NOW, opened_by="op", opened_at=NOW,
            ).returning(faults.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            insert(manual_results).values(
                fault_id=fault, device_id=device, factor="a21026", sampled_at=NOW, value=Decimal("12.30"),
                unit="mg/m3", agency="检测所", report_no="JC-1", recorded_by="op", recorded_at=NOW,
            )
        )  # fmt: skip


def _credit_code() -> str:
    first17 = "91350102000009999"
    return first17 + credit_code_check_char(first17)


def _refuses_rewrites(engine: Engine) -> None:
    for table in CORRECTED:
        for statement in (f"UPDATE {table} SET recorded_by = 'x'", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match=f"{table} is append-only"), engine.begin() as conn:
                conn.execute(text(statement))


def test_0011_keeps_the_corrected_tables_append_only_both_ways(engine: Engine) -> None:
    config = alembic_config(engine)
    command.downgrade(config, "0010")
    _evidence(engine)
    _refuses_rewrites(engine)
    upgrade(engine)  # SQLite: batch mode rebuilds both tables, which drops their triggers; 0011 restores them
    _refuses_rewrites(engine)
    with engine.connect() as conn:
        for table in CORRECTED:  # the rows survived the rebuild, as current first recordings
            assert conn.execute(text(f"SELECT supersedes_id, withdrawn, reason FROM {table}")).all() == [
                (None, False, "")
            ]
    with pytest.raises(IntegrityError), engine.begin() as conn:  # one account, one personnel file
        conn.execute(
            insert(staff).values(
                operator_id=_the_operator(), name="李四", position="sampler", phone="13900139000", username="zs",
                active=True, created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
    command.downgrade(config, "0010")  # the way down rebuilds them again
    _refuses_rewrites(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM staff_certificates")).scalar_one() == 1
        assert "supersedes_id" not in {c["name"] for c in inspect(conn).get_columns("manual_results")}
    upgrade(engine)
    _refuses_rewrites(engine)


def test_0011_names_the_accounts_linked_twice(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "0010")
    _evidence(engine)  # 张三 linked to zs
    with engine.begin() as conn:
        for name in ("李四", "王五"):
            conn.execute(
                insert(staff).values(
                    operator_id=_the_operator(), name=name, position="sampler", phone="13900139000", username="zs",
                    active=True, created_at=NOW, updated_at=NOW,
                )
            )  # fmt: skip
    with pytest.raises(RuntimeError) as caught:
        upgrade(engine)
    assert str(caught.value) == (
        "several personnel files are linked to the web account(s) zs: unlink all but one "
        "(PATCH /api/v1/om/staff/{id} with username null) and upgrade again"
    )
    assert current_revision(engine) == "0010"  # nothing of 0011 was done
    with engine.begin() as conn:
        conn.execute(text("UPDATE staff SET username = NULL WHERE name <> '张三'"))
    upgrade(engine, "0011")
    assert current_revision(engine) == "0011"


def _the_operator() -> Any:
    return select(staff.c.operator_id).limit(1).scalar_subquery()  # 张三's, of _evidence
