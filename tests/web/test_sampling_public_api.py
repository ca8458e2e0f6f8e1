"""Public verification of a sample code (防伪查验, ``GET /api/v1/verify/{code}``): no token, no session, and
nothing private in the answer (no enterprise, person, place, seal or note)."""

from __future__ import annotations

import json
from urllib.parse import quote

from sqlalchemy import func, select

from envwatch.core.clock import to_china, utcnow
from envwatch.sampling.codes import new_code, parse
from envwatch.web.accounts.schema import audit_log
from envwatch.web.auth import authenticate
from tests.sampling.conftest import mistyped
from tests.web.sampling_world import API, World, ok, world

__all__ = ["world"]  # the fixture

VERIFY = "/api/v1/verify"
PRIVATE = (
    "永兴",
    "张三",
    "李四",
    "废水",
    "排放口",
    "硫酸",
    "微黄",
    "F-9",
    "封条",
    "27.99",
    "120.69",
    "lab_a",
)


def test_anyone_verifies_a_code_without_an_account(world: World) -> None:
    item = world.plan()["items"][0]["id"]
    code = world.sample(item, seal_no="F-9", note="封条完好")["code"]
    assert world.who("agency").post(f"{API}/samples/{code}/label", json={}).status_code == 200
    world.client.app.dependency_overrides.pop(authenticate)  # type: ignore[attr-defined]
    anonymous = world.client
    assert anonymous.get(f"{API}/samples/{code}").status_code == 401  # the private detail still needs a login
    with world.engine.connect() as conn:
        audited = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    answer = anonymous.get(f"{VERIFY}/{code.lower()}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    found = answer.json()
    assert set(found) == {"code", "authentic", "agency", "issued_on", "state", "prints", "custody"}
    assert (found["code"], found["authentic"], found["agency"]) == (code, True, "温州检测有限公司")
    assert (found["state"], found["prints"]) == ("labelled", 1)
    assert found["issued_on"] == to_china(utcnow()).date().isoformat()
    assert [set(step) for step in found["custody"]] == [{"event", "state", "at"}] * 2
    assert [(s["event"], s["state"]) for s in found["custody"]] == [
        ("register", "registered"),
        ("print_label", "labelled"),
    ]
    assert found["custody"][0]["at"].endswith("+08:00")
    text = json.dumps(found, ensure_ascii=False)
    for private in PRIVATE:
        assert private not in text, private
    # the whole URL a general scanner app reads from the QR code, URL-encoded
    url = quote(f"{world.settings.public_base_url}/v/{code}", safe="")
    assert ok(anonymous.get(f"{VERIFY}/{url}"))["authentic"] is True
    with world.engine.connect() as conn:  # reads leave no audit row
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == audited


def test_forged_and_mistyped_codes_are_not_authentic(world: World) -> None:
    code = world.sample(world.plan()["items"][0]["id"])["code"]
    world.client.app.dependency_overrides.pop(authenticate)  # type: ignore[attr-defined]
    anonymous = world.client
    issued = parse(code)
    # a well-formed code with a correct check character, never issued (a forger's guess)
    forged = str(new_code(issued.region_code, issued.agency_code, issued.day, issued.seq, 6))
    assert forged != code
    answer = ok(anonymous.get(f"{VERIFY}/{forged}"))
    assert answer == {
        "code": forged,
        "authentic": False,
        "reason": "no sample with this code was ever issued",
    }
    typo = mistyped(code)
    answer = ok(anonymous.get(f"{VERIFY}/{typo}"))
    assert answer["authentic"] is False and "check character" in answer["reason"]
    answer = ok(anonymous.get(f"{VERIFY}/hello"))
    assert answer["authentic"] is False and "not a sample code" in answer["reason"]
