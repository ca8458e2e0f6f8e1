"""Correcting and withdrawing manual monitoring results on the fault page (TestClient, English): the forms
next to each current result, the history struck through with who, when and why, the refusals.

The module's own device MN_D on 甲's own outlet DA009 of this module (SO2 registered; not on DA001, whose
devices the stop tests count) has a fault since 2 days ago, on manual
monitoring since 1 day ago, with two results (SO2 20 h ago: 12.30, 10 h ago: 8.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from envwatch.core.clock import to_china
from envwatch.operations.faults import ManualResultIn, add_manual_results, open_fault, record_event
from envwatch.operations.faults_schema import manual_results
from envwatch.registry import service as svc
from envwatch.registry.models import DeviceFactorIn, OutletIn
from tests.helpers import device_row
from tests.web.pages.conftest import add_devices, row_count
from tests.web.pages.om_faults.conftest import SO2, FaultWorld, as_user, local

MN_D = "010000A8900016F0040A0009"


@dataclass(frozen=True)
class Results:
    fault: int
    first: dict[str, Any]
    second: dict[str, Any]


@pytest.fixture(scope="module")
def results(fault_world: FaultWorld) -> Results:
    now = fault_world.now
    device = add_devices(fault_world.engine, [device_row(MN_D)], now)[MN_D]
    with fault_world.engine.begin() as conn:
        outlet = svc.create_outlet(
            conn, fault_world.enterprises["a"], OutletIn(code="DA009", name="9号排口", kind="gas"), now
        )
        svc.set_device_outlet(conn, MN_D, outlet["id"], now)
        svc.upsert_device_factors(conn, MN_D, [DeviceFactorIn(factor=SO2, unit="mg/m3")], now)
        fid = open_fault(
            conn, device_id=device, started_at=now - timedelta(days=2), description="D 分析仪故障",
            factors=[SO2], opened_by="op_a", now=now,
        )["id"]  # fmt: skip
        record_event(
            conn, fid, event="backup_started", at=now - timedelta(days=1), data={"kind": "manual"}, by="op_a",
            now=now,
        )  # fmt: skip
        rows = [
            ManualResultIn(
                SO2, now.replace(microsecond=0) - timedelta(hours=h), value, "mg/m3", "某检测", f"R{h}"
            )
            for h, value in ((20, "12.30"), (10, "8.1"))
        ]
        first, second = add_manual_results(conn, fid, rows, by="op_a", now=now)
    return Results(fid, first, second)


def _row(html: str, rid: int) -> str:
    found = re.search(rf'<tr data-result="{rid}"[^>]*>.*?</tr>', html, re.S)
    assert found is not None, rid
    return found.group(0)


def _form(token: str, row: dict[str, Any], **fields: str) -> dict[str, str]:
    values = {
        "csrf_token": token, "factor": row["factor"], "sampled_at": to_china(row["sampled_at"]).strftime("%Y-%m-%dT%H:%M:%S"),
        "value": str(row["value"]), "unit": row["unit"], "agency": row["agency"], "report_no": row["report_no"],
        "reason": "",
    }  # fmt: skip
    return values | fields


def test_correct_and_withdraw_results(client: TestClient, fault_world: FaultWorld, results: Results) -> None:
    token = as_user(client, "fs_a")
    fid, first, second = results.fault, results.first, results.second
    page = client.get(f"/om/faults/{fid}").text
    row = _row(page, first["id"])
    assert f'id="correct-form-{first["id"]}"' in row and 'value="12.30"' in row
    sampled = re.search(r'name="sampled_at" type="datetime-local" step="1" required value="([^"]+)"', row)
    assert sampled is not None and len(sampled.group(1)) == 19  # to the second: kept exactly unless changed
    # a refusal: back in the row's form with the values, nothing stored
    before = row_count(fault_world.engine, manual_results)
    url = f"/om/faults/{fid}/manual-results/{first['id']}/corrections"
    r = client.post(url, data=_form(token, first, value="12,3", reason="数值抄错"))
    assert r.status_code == 422
    row = _row(r.text, first["id"])
    assert (
        "The correction was not recorded: the value &#39;12,3&#39; is not a decimal number such as 12.3"
        in row
    )
    assert f'<details class="act" id="correct-{first["id"]}" open>' in row and ">数值抄错</textarea>" in row
    assert row_count(fault_world.engine, manual_results) == before
    # the correction
    r = client.post(url, data=_form(token, first, value="21.30", reason="数值抄错"), follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/om/faults/{fid}?done=result_corrected#results")
    page = client.get(f"/om/faults/{fid}?done=result_corrected").text
    assert "The correction of the manual result was recorded." in page
    old = _row(page, first["id"])
    assert 'class="superseded" data-superseded="corrected"' in old and "<del>12.30 mg/m3</del>" in old
    assert "Corrected by fs_a at " in old and "数值抄错" in old and "correct-form" not in old
    new_id = int(re.findall(r'<tr data-result="(\d+)"', page)[1])  # by sampling time: right after the old
    new = _row(page, new_id)
    assert "21.30 mg/m3" in new and "<del>" not in new and "Corrects an earlier record: 数值抄错" in new
    # the old one again: refused, said in its own row
    r = client.post(url, data=_form(token, first, value="1", reason="x"))
    assert r.status_code == 409
    assert (
        f"manual result {first['id']} was corrected already by manual result {new_id}: correct that one "
        "instead"
    ) in _row(r.text, first["id"])
    # withdraw the second: only the reason is needed
    url = f"/om/faults/{fid}/manual-results/{second['id']}/corrections"
    r = client.post(url, data={"csrf_token": token, "action": "withdraw", "reason": "不是本故障的"})
    assert r.status_code == 200 and "The manual result was withdrawn." in r.text  # redirect followed
    gone = _row(r.text, second["id"])
    assert 'data-superseded="withdrawn"' in gone and "Withdrawn by fs_a at " in gone
    assert row_count(fault_world.engine, manual_results) == before + 2


def test_corrections_after_the_restore(client: TestClient, fault_world: FaultWorld, results: Results) -> None:
    """The result forms go with the running backup; the correction forms stay."""
    token = as_user(client, "op_a")
    fid = results.fault
    with fault_world.engine.begin() as conn:
        record_event(
            conn,
            fid,
            event="restored",
            at=fault_world.now - timedelta(hours=1),
            by="op_a",
            now=fault_world.now,
        )
    page = client.get(f"/om/faults/{fid}").text
    assert 'id="result-form"' not in page and "correct-form-" in page
    current = [int(i) for i in re.findall(r'id="correct-form-(\d+)"', page)]
    assert current and all('class="superseded"' not in _row(page, i) for i in current)
    # the restore closed the manual monitoring: a sample after it is refused
    rid = current[0]
    later = local(fault_world.now - timedelta(minutes=30)) + ":00"
    r = client.post(
        f"/om/faults/{fid}/manual-results/{rid}/corrections",
        data={"csrf_token": token, "factor": SO2, "sampled_at": later, "value": "5", "unit": "mg/m3",
              "agency": "某检测", "report_no": "R9", "reason": "时间录错"},
    )  # fmt: skip
    assert r.status_code == 422 and "outside the manual monitoring from " in _row(r.text, rid)


def test_who_may_correct(client: TestClient, fault_world: FaultWorld, results: Results) -> None:
    fid, rid = results.fault, results.first["id"]
    before = row_count(fault_world.engine, manual_results)
    url = f"/om/faults/{fid}/manual-results/{rid}/corrections"
    form = {"factor": SO2, "sampled_at": "2020-01-01T00:00:00", "value": "1", "unit": "u", "agency": "a"}
    form |= {"report_no": "r", "reason": "x"}
    for user, status in (("ent_a", 403), ("reg_zj", 403), ("aud_a", 403), ("op_b", 404), ("ent_b", 404)):
        token = as_user(client, user)
        r = client.post(url, data=form | {"csrf_token": token})
        assert r.status_code == status, (user, r.text[:200])
    token = as_user(client, "ent_a")  # reads the fault and its history, without the forms
    page = client.get(f"/om/faults/{fid}").text
    assert 'id="manual-results"' in page and "correct-form-" not in page
    token = as_user(client, "op_a")
    other = fault_world.ids["fault_a"]
    r = client.post(f"/om/faults/{other}/manual-results/{rid}/corrections", data=form | {"csrf_token": token})
    assert r.status_code == 404 and f"no manual result with id {rid} on fault {other}" in r.text
    r = client.post(url, data=form)  # no CSRF token
    assert r.status_code == 403
    assert row_count(fault_world.engine, manual_results) == before
