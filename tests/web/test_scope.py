"""``web.scope.resolve_scope``: the visible sets per role, on a registry built with the services."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi import HTTPException
from sqlalchemy import Connection, Engine

from envwatch.core.clock import utcnow
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from envwatch.registry.service_operators import contracted_outlets
from envwatch.web.auth import Principal
from envwatch.web.scope import WRITERS, Scope, resolve_scope

DAY = date(2026, 6, 15)


def code(n: int) -> str:
    first17 = f"9133010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def enterprise(conn: Connection, n: int, region: str) -> tuple[int, list[int]]:
    """An enterprise with two outlets: its id and the outlet ids."""
    ent = svc.create_enterprise(
        conn, EnterpriseIn(name=f"e{n}", credit_code=code(n), region_code=region), utcnow()
    )
    outs = [
        svc.create_outlet(conn, ent["id"], OutletIn(code=f"DA00{i}", name=f"o{i}", kind="gas"), utcnow())[
            "id"
        ]
        for i in (1, 2)
    ]
    return ent["id"], outs


def test_regions_operators_and_periods(sqlite_engine: Engine) -> None:
    with sqlite_engine.begin() as conn:
        hz, hz_out = enterprise(conn, 1, "330102")  # 杭州 上城区
        nb, nb_out = enterprise(conn, 2, "330203")  # 宁波
        gz, gz_out = enterprise(conn, 3, "440103")  # 广州
        op = ops.create_operator(conn, OperatorIn(name="op", credit_code=code(9)), utcnow())["id"]
        contract = {"valid_from": date(2026, 1, 1), "valid_to": date(2026, 6, 30)}
        ops.create_contract(conn, op, ContractIn(enterprise_id=hz, contract_no="1", **contract), utcnow())
        one = ContractIn(enterprise_id=gz, outlet_id=gz_out[0], contract_no="2", valid_from=date(2026, 7, 1))
        ops.create_contract(conn, op, one, utcnow())

        def scope(**kw: object) -> tuple[set[int], set[int]]:
            s = resolve_scope(conn, Principal(name="p", **kw), DAY)  # type: ignore[arg-type]
            assert s.enterprise_ids is not None and s.outlet_ids is not None
            return set(s.enterprise_ids), set(s.outlet_ids)

        assert scope(role="regulator", region_code="330000") == ({hz, nb}, {*hz_out, *nb_out})  # province
        assert scope(role="regulator", region_code="3301") == ({hz}, set(hz_out))
        assert scope(role="regulator", region_code="440103") == ({gz}, set(gz_out))
        assert scope(role="regulator") == (set(), set())  # no region: nothing, not everything
        assert scope(role="enterprise", enterprise_id=nb) == ({nb}, set(nb_out))
        # on DAY the whole-enterprise contract is in force, the single-outlet one not yet
        assert scope(role="operator", operator_id=op) == ({hz}, set(hz_out))
        assert scope(role="field_staff", operator_id=op) == ({hz}, set(hz_out))
        # an auditor's period spanning both contracts sees both, the single outlet only of the second
        period = (date(2026, 6, 1), date(2026, 7, 31))
        assert scope(role="auditor", operator_id=op, period=period) == ({hz, gz}, {*hz_out, gz_out[0]})
        assert scope(role="auditor", operator_id=op) == (set(), set())  # no period: nothing
        # one rule (registry.service_operators.contracted_outlets) for a day and for a period
        assert ops.operator_scope(conn, op, date(2025, 12, 31)) == []
        assert ops.operator_scope(conn, op, DAY) == sorted(hz_out)
        assert ops.operator_scope(conn, op, date(2026, 7, 1)) == [gz_out[0]]
        assert contracted_outlets(conn, op, date(2026, 6, 30), date(2026, 7, 1)) == (
            frozenset({*hz_out, gz_out[0]}),
            frozenset({hz}),
        )
        auditor = resolve_scope(conn, Principal("a", "auditor", operator_id=op, period=period), DAY)
        assert auditor.whole_enterprise_ids == {hz}  # gz is seen through one outlet only
        admin = resolve_scope(conn, Principal("admin", "admin"), DAY)
        assert admin.everything and admin.sees_device(12345)


def test_unknown_roles_are_refused(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        for role in ("public", ""):
            with pytest.raises(HTTPException) as exc:
                resolve_scope(conn, Principal("x", role), DAY)
            assert exc.value.status_code == 403


def test_an_agency_sees_itself_and_no_monitoring_data(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        agency = resolve_scope(conn, Principal("lab", "agency", agency_id=7), DAY)
        lost = resolve_scope(conn, Principal("lab", "agency"), DAY)  # misconfigured: no agency id
    assert agency.agency_ids == {7} and agency.sees_agency(7) and not agency.sees_agency(8)
    assert agency.enterprise_ids == agency.outlet_ids == agency.device_ids == agency.operator_ids == set()
    assert agency.sees_sample({"agency_id": 7, "enterprise_id": 3})
    assert not agency.sees_sample({"agency_id": 8, "enterprise_id": 3})
    assert lost.agency_ids == set() and not lost.sees_agency(7)


def test_write_rules() -> None:
    assert WRITERS["registry"] == {"admin"}
    # the auditor writes one thing only: its sign-off of a day of data (CS-4.3.2.2)
    assert {kind for kind, roles in WRITERS.items() if "auditor" in roles} == {"audit_day"}
    assert WRITERS["order"] == {"admin", "regulator"} and "regulator" not in WRITERS["alarm"]
    assert WRITERS["mark_review"] == {"admin", "regulator"}
    assert "regulator" not in WRITERS["mark"] and "enterprise" not in WRITERS["command"]


def test_samples_are_seen_by_the_sampling_roles_only(sqlite_engine: Engine) -> None:
    """Operators, field staff and auditors see no sample, even at an enterprise their contract covers; an
    enterprise sees a plan at it only once the plan's window has opened (supervisory sampling may be
    unannounced), a regulator of the region at once."""
    soon = utcnow() + timedelta(hours=2)
    sample = {"agency_id": 9, "enterprise_id": 5}
    plan = {"agency_id": 9, "enterprise_id": 5, "window_start": soon}
    for role in ("operator", "field_staff", "auditor"):
        scope = Scope(Principal("x", role, operator_id=1), None, None, None, None, None)
        assert not scope.sees_sample(sample), role  # even a scope of "everything" but the role
    enterprise = Scope(Principal("e", "enterprise", enterprise_id=5), frozenset({5}), None, None, None, None)
    regulator = Scope(Principal("r", "regulator", region_code="3303"), frozenset({5}), None, None, None, None)
    assert enterprise.sees_sample(sample) and not enterprise.sees_sample(plan)
    assert enterprise.sees_sample(plan | {"window_start": utcnow() - timedelta(minutes=1)})
    assert regulator.sees_sample(plan)
