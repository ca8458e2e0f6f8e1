"""Notification targets: address checks, one owner, region prefixes, duplicates, deactivation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine

from envwatch.alarms.notify_targets import (
    add_target,
    check_address,
    check_email,
    check_phone,
    check_topics,
    check_url,
    deactivate_target,
    get_target,
    list_targets,
    topics_of,
)
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import EnterpriseIn, OperatorIn, credit_code_check_char

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def enterprise(conn: Connection, n: int = 1, region: str = "350102") -> int:
    data = EnterpriseIn(name=f"厂{n}", credit_code=code(n), region_code=region)
    return int(svc.create_enterprise(conn, data, NOW)["id"])


def operator(conn: Connection, n: int = 50) -> int:
    return int(ops.create_operator(conn, OperatorIn(name=f"运维{n}", credit_code=code(n)), NOW)["id"])


@pytest.mark.parametrize(
    "address",
    ["duty@example.com", " a.b+c_d@mail.sub.example.cn ", "x@xn--fiqs8s.xn--fiqs8s", "O'Neil@ex.org"],
)
def test_good_emails(address: str) -> None:
    assert check_email(address) == address.strip()


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("duty.example.com", "one name@domain"),
        ("@example.com", "one name@domain"),
        ("a@b@example.com", "one name@domain"),
        ("a b@example.com", "before @"),
        (".a@example.com", "before @"),
        ("a..b@example.com", "before @"),
        ("张三@example.com", "before @"),
        ("a@localhost", "not a host name"),
        ("a@exa_mple.com", "not a host name"),
        ("a@example.c", "not a host name"),
        ("a@-example.com", "not a host name"),
        ("a@例子.中国", "not a host name"),
    ],
)
def test_bad_emails(address: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        check_email(address)


def test_urls() -> None:
    assert (
        check_url(" https://hooks.example/robot?access_token=abc ")
        == "https://hooks.example/robot?access_token=abc"
    )
    assert check_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    for bad, why in [
        ("ftp://hooks.example/x", "must start with https://"),
        ("hooks.example/x", "must start with https://"),
        ("https:///path", "no host name"),
        ("https://hooks.example:99999/", "is not a URL"),
        ("https://hooks.example/a b", "spaces or control characters"),
        ("https://hooks.example/\x07", "spaces or control characters"),
    ]:
        with pytest.raises(InvalidInput, match=why):
            check_url(bad)


def test_phones() -> None:
    assert check_phone("138 0013 8000") == "13800138000"
    assert check_phone("+86-138-0013-8000") == "+8613800138000"
    assert check_phone("(0591) 8765-4321") == "059187654321"
    assert check_phone("123456") == "123456"  # 6 digits: the shortest accepted
    assert check_phone("1" * 15) == "1" * 15  # 15: the longest (E.164)
    for bad in ("12345", "1" * 16, "1380013800a", "++8613800138000", "86+13800138000", ""):
        with pytest.raises(InvalidInput, match="must be 6 to 15 digits"):
            check_phone(bad)


def test_address_by_channel_and_length() -> None:
    assert check_address("sms", "138-0013-8000") == "13800138000"
    with pytest.raises(InvalidInput, match="channel 'inapp' is not one of email, webhook, sms"):
        check_address("inapp", "enterprise:1")
    with pytest.raises(InvalidInput, match="e-mail address"):
        check_address("email", "https://hooks.example/")
    url = "https://hooks.example/" + "a" * 278
    assert len(check_address("webhook", url)) == 300
    with pytest.raises(InvalidInput, match="301 characters long; at most 300"):
        check_address("webhook", url + "a")


def test_topics() -> None:
    assert check_topics(()) == ""
    assert check_topics("order, alarm") == "alarm,order"
    assert check_topics(["audit", "alarm", "audit"]) == "alarm,audit"
    with pytest.raises(InvalidInput, match="unknown topic\\(s\\) alarms, x: choose from alarm, order, audit"):
        check_topics("alarms,x,order")
    assert topics_of("") == {"alarm", "order", "audit"}
    assert topics_of("order") == {"order"}


def test_add_list_deactivate(engine: Engine) -> None:
    with engine.begin() as conn:
        ent, other, op = enterprise(conn, 1), enterprise(conn, 2), operator(conn)
        mail = add_target(
            conn,
            channel="email",
            address=" duty@plant.example ",
            enterprise_id=ent,
            topics="alarm",
            created_by="admin",
            now=NOW,
        )
        assert mail["address"] == "duty@plant.example"
        assert (mail["enterprise_id"], mail["operator_id"], mail["region_code"]) == (ent, None, None)
        assert (mail["topics"], mail["active"], mail["created_by"], mail["created_at"]) == (
            ["alarm"],
            True,
            "admin",
            NOW,
        )
        sms = add_target(
            conn, channel="sms", address="138 0013 8000", operator_id=op, created_by="admin", now=NOW
        )
        assert (sms["address"], sms["topics"]) == ("13800138000", [])
        city = add_target(
            conn,
            channel="webhook",
            address="https://bureau.example/h",
            region_code="350100",
            created_by="r",
            now=NOW,
        )
        county = add_target(
            conn,
            channel="webhook",
            address="https://county.example/h",
            region_code="350102",
            created_by="r",
            now=NOW,
        )
        province = add_target(
            conn, channel="email", address="p@fj.example", region_code="350000", created_by="r", now=NOW
        )
        assert (city["region_code"], county["region_code"], province["region_code"]) == (
            "3501",
            "350102",
            "35",
        )
        # the same address for another party is another target; for the same party a conflict
        add_target(
            conn, channel="email", address="duty@plant.example", enterprise_id=other, created_by="a", now=NOW
        )
        with pytest.raises(
            Conflict, match=f"email duty@plant.example is already registered .*target {mail['id']}"
        ):
            add_target(
                conn,
                channel="email",
                address="duty@plant.example",
                enterprise_id=ent,
                created_by="a",
                now=NOW,
            )

        def ids(**kw: object) -> list[int]:
            return [t["id"] for t in list_targets(conn, **kw)]  # type: ignore[arg-type]

        assert ids(enterprise_id=ent) == [mail["id"]]
        assert ids(operator_id=op) == [sms["id"]]
        assert ids(region="3501") == [city["id"], county["id"]]  # at or under 福州市, not 福建省 itself
        assert ids(region="350000") == [city["id"], county["id"], province["id"]]
        assert ids(region="350102") == [county["id"]]

        gone = deactivate_target(conn, mail["id"])
        assert gone["active"] is False
        assert deactivate_target(conn, mail["id"])["active"] is False  # twice: nothing changes
        assert ids(enterprise_id=ent) == []
        assert [t["id"] for t in list_targets(conn, enterprise_id=ent, include_inactive=True)] == [mail["id"]]
        again = add_target(
            conn, channel="email", address="duty@plant.example", enterprise_id=ent, created_by="a", now=NOW
        )
        assert get_target(conn, again["id"])["active"] is True  # a deactivated address can be registered anew
        with pytest.raises(NotFound, match="no notification target with id 999"):
            deactivate_target(conn, 999)


def test_add_refuses_bad_input(engine: Engine) -> None:
    with engine.begin() as conn:
        ent, op = enterprise(conn), operator(conn)
        base = {"channel": "email", "address": "a@example.com", "created_by": "admin", "now": NOW}
        with pytest.raises(InvalidInput, match="exactly one of: an enterprise, an operator, a region; got 0"):
            add_target(conn, **base)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="got 2"):
            add_target(conn, enterprise_id=ent, operator_id=op, **base)  # type: ignore[arg-type]
        with pytest.raises(NotFound, match="no enterprise with id 999"):
            add_target(conn, enterprise_id=999, **base)  # type: ignore[arg-type]
        with pytest.raises(NotFound, match="no operator with id 999"):
            add_target(conn, operator_id=999, **base)  # type: ignore[arg-type]
        with pytest.raises(
            InvalidInput, match="must be 2 \\(province\\), 4 \\(city\\) or 6 \\(county\\) digits"
        ):
            add_target(conn, region_code="35010", **base)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="unknown topic"):
            add_target(conn, enterprise_id=ent, topics=["alarm", "spam"], **base)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="created_by must be a user name"):
            add_target(conn, enterprise_id=ent, **{**base, "created_by": " "})  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="channel 'fax'"):
            add_target(conn, enterprise_id=ent, **{**base, "channel": "fax"})  # type: ignore[arg-type]
        assert list_targets(conn, include_inactive=True) == []
