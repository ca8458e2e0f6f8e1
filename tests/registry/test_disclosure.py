"""Disclosure settings (信息公开设置, SX-7): published by default, append-only history, only an admin
withdraws and only with a reason, the statement's limit, the public list (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import DatabaseError, IntegrityError

from envwatch.core.errors import Forbidden, InvalidInput, NotFound
from envwatch.registry.disclosure import (
    DisclosureChange,
    change_settings,
    current_settings,
    published_enterprise,
    published_enterprises,
    settings_history,
)
from envwatch.registry.disclosure_schema import disclosure_settings
from envwatch.registry.models import credit_code_check_char
from envwatch.registry.schema import enterprises

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _code(n: int) -> str:
    first17 = f"9114010000000{n:04d}"
    return first17 + credit_code_check_char(first17)


def make_enterprises(engine: Engine, *names_regions: tuple[str, str]) -> list[int]:
    ids = []
    with engine.begin() as c:
        for n, (name, region) in enumerate(names_regions, start=1):
            ids.append(
                c.execute(
                    insert(enterprises).values(
                        name=name,
                        credit_code=_code(n),
                        region_code=region,
                        industry="",
                        attention_level="other",
                        address="",
                        created_at=T0,
                        updated_at=T0,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
    return ids


def change(
    engine: Engine, ent: int, role: str = "enterprise", at: int = 0, **fields: object
) -> dict[str, object]:
    data = {"contact_name": "", "contact_phone": "", "statement": ""} | fields
    with engine.begin() as c:
        return change_settings(
            c,
            ent,
            DisclosureChange(**data),  # type: ignore[arg-type]
            role=role,
            changed_by=f"{role}_user",
            now=T0 + timedelta(minutes=at),
        )


def test_without_a_row_an_enterprise_is_published_with_an_empty_contact(engine: Engine) -> None:
    [ent] = make_enterprises(engine, ("甲电厂", "140105"))
    with engine.connect() as c:
        now = current_settings(c, ent)
        assert now["published"] is True and now["contact_name"] == "" and now["statement"] == ""
        assert settings_history(c, ent) == []
        assert published_enterprise(c, _code(1))["name"] == "甲电厂"
        with pytest.raises(NotFound):
            current_settings(c, ent + 100)


def test_changes_are_new_rows_and_the_newest_is_in_force(engine: Engine) -> None:
    [ent] = make_enterprises(engine, ("甲电厂", "140105"))
    change(engine, ent, contact_name="张三", contact_phone="0351-1234567", statement="第一版")
    after = change(engine, ent, at=5, contact_name="李四", contact_phone="0351-1234567", statement="第二版")
    assert after["contact_name"] == "李四" and after["changed_by"] == "enterprise_user"
    # nothing changed: no new row
    change(engine, ent, at=9, contact_name=" 李四 ", contact_phone="0351-1234567", statement="第二版")
    with engine.connect() as c:
        history = settings_history(c, ent)
    assert [h["statement"] for h in history] == ["第二版", "第一版"]
    assert history[0]["changed_at"] == T0 + timedelta(minutes=5)
    for sql in ("UPDATE disclosure_settings SET statement = 'x'", "DELETE FROM disclosure_settings"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as c:
            c.execute(text(sql))


def test_the_enterprise_cannot_withdraw_itself(engine: Engine) -> None:
    [ent] = make_enterprises(engine, ("甲电厂", "140105"))
    with pytest.raises(Forbidden, match="only an administrator"):
        change(engine, ent, published=False, reason="不想公开")
    for role in ("regulator", "operator", "auditor"):
        with pytest.raises(Forbidden, match=f"role {role} may not change"):
            change(engine, ent, role=role, statement="x")
    with engine.connect() as c:
        assert current_settings(c, ent)["published"] is True and settings_history(c, ent) == []


def test_an_admin_withdraws_only_with_a_reason(engine: Engine) -> None:
    ent, other = make_enterprises(engine, ("甲电厂", "140105"), ("乙水厂", "140106"))
    with pytest.raises(InvalidInput, match="reason"):
        change(engine, ent, role="admin", published=False, reason="  ")
    change(engine, ent, role="admin", published=False, reason="企业已关停")
    with engine.connect() as c:
        with pytest.raises(NotFound, match="no published enterprise"):
            published_enterprise(c, _code(1))
        rows, total = published_enterprises(c)
        assert total == 1 and [r["id"] for r in rows] == [other]
    # the enterprise may still edit its contact: it stays withdrawn, with the admin's reason
    kept = change(engine, ent, at=1, contact_name="王五")
    assert kept["published"] is False and kept["reason"] == "企业已关停"
    # ... but not publish itself again; an admin may
    with pytest.raises(Forbidden):
        change(engine, ent, at=2, contact_name="王五", published=True)
    back = change(engine, ent, role="admin", at=3, contact_name="王五", published=True)
    assert back["published"] is True and back["reason"] == ""
    # and the database itself refuses a withdrawal without a reason
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(
            insert(disclosure_settings).values(
                enterprise_id=ent, published=False, contact_name="", contact_phone="", statement="",
                reason=" ", changed_by="x", changed_at=T0,
            )
        )  # fmt: skip


def test_statement_limit_and_phone(engine: Engine) -> None:
    [ent] = make_enterprises(engine, ("甲电厂", "140105"))
    ok = change(engine, ent, statement="测" * 2000)
    assert len(str(ok["statement"])) == 2000
    with pytest.raises(InvalidInput, match="2001 characters, at most 2000"):
        change(engine, ent, statement="测" * 2001)
    with pytest.raises(InvalidInput, match="phone"):
        change(engine, ent, contact_phone="call me<script>")


def test_published_list_search_region_and_pages(engine: Engine) -> None:
    names = [(f"企业{n:02d}", "140105" if n % 2 else "140200") for n in range(1, 8)]
    ids = make_enterprises(engine, *names)
    change(engine, ids[0], role="admin", published=False, reason="关停")
    with engine.connect() as c:
        rows, total = published_enterprises(c, region="140100")
        assert total == 3 and {r["name"] for r in rows} == {"企业03", "企业05", "企业07"}
        rows, total = published_enterprises(c, name="企业0", offset=2, limit=2)
        assert total == 6 and len(rows) == 2
        rows, total = published_enterprises(c, name="%")
        assert total == 0  # a LIKE wildcard is searched for literally
        with pytest.raises(InvalidInput):
            published_enterprises(c, region="14x")
