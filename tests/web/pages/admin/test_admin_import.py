"""Registry import and export pages: export → dry run → confirm changes nothing; a bad file lists every
bad row and stores nothing; a csv sheet is imported after its dry run; unknown or used tokens."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from envwatch.registry.schema import enterprises, outlets
from envwatch.registry.transfer_files import SHEETS
from tests.web.pages.admin.conftest import AdminWorld, credit_code

Admin = tuple[TestClient, str]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _counts(page: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for sheet, body in re.findall(r'<tr data-sheet="(\w+)">(.*?)</tr>', page, re.S):
        out[sheet] = {k: int(v) for k, v in re.findall(r'data-n="(\w+)">(\d+)<', body)}
    return out


def _token(page: str) -> str:
    found = re.search(r'name="token" value="([0-9a-f]{32})"', page)
    assert found is not None
    return found.group(1)


def _rows(aworld: AdminWorld) -> tuple[int, int]:
    with aworld.engine.connect() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(enterprises)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(outlets)).scalar_one()),
        )


def _upload(client: TestClient, token: str, name: str, data: bytes, kind: str = XLSX) -> str:
    r = client.post("/admin/registry/import", data={"csrf_token": token}, files={"file": (name, data, kind)})
    return f"{r.status_code}\n{r.text}"


def test_export_then_import_changes_nothing(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    exported = client.get("/admin/registry/export").content
    before = _rows(aworld)
    answer = _upload(client, token, "registry.xlsx", exported)
    assert answer.startswith("200")
    counts = _counts(answer)
    assert set(counts) == set(SHEETS)
    assert all(c["created"] == 0 and c["updated"] == 0 for c in counts.values()), counts
    assert counts["enterprises"]["unchanged"] == before[0]
    r = client.post("/admin/registry/import/confirm", data={"csrf_token": token, "token": _token(answer)})
    assert r.status_code == 200 and "Imported." in r.text
    assert _counts(r.text) == counts
    assert _rows(aworld) == before
    # the confirmed upload is gone: it cannot be imported twice
    r = client.post("/admin/registry/import/confirm", data={"csrf_token": token, "token": _token(answer)})
    assert r.status_code == 422 and "upload the file again" in r.text


def test_a_bad_file_lists_its_rows_and_stores_nothing(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    book = load_workbook(io.BytesIO(client.get("/admin/registry/export").content))
    ents = book["enterprises"]
    good_new = [credit_code(40), "新单位", "350102"]
    ents.append(good_new)  # a valid new enterprise: must not be stored either
    ents.append([credit_code(41)[:17] + "Z", "坏单位", "350102"])  # Z is never in a credit code
    book["outlets"].append([credit_code(42), "DA001", "孤儿排口", "gas"])  # no such enterprise
    buffer = io.BytesIO()
    book.save(buffer)
    before = _rows(aworld)
    answer = _upload(client, token, "bad.xlsx", buffer.getvalue())
    assert answer.startswith("422")
    problems = re.findall(r"<li>(.*?)</li>", answer.split('id="import-problems"')[1].split("</section>")[0])
    bad_row = ents.max_row
    assert any(p.startswith(f"sheet enterprises, row {bad_row}:") for p in problems), problems
    assert any(p.startswith("sheet outlets, row ") for p in problems), problems
    assert 'id="confirm-form"' not in answer
    assert "/admin-imports/" not in answer  # the temporary path is not shown
    assert _rows(aworld) == before


def test_a_csv_sheet_is_imported_after_its_dry_run(admin: Admin, aworld: AdminWorld) -> None:
    client, token = admin
    with aworld.engine.connect() as conn:
        code = conn.execute(
            select(enterprises.c.credit_code).where(enterprises.c.id == aworld.enterprise_a)
        ).scalar()
    csv = f"enterprise_credit_code,code,name,kind\n{code},DW077,csv导入排口,water\n".encode()
    before = _rows(aworld)
    answer = _upload(client, token, "outlets.csv", csv, "text/csv")
    assert answer.startswith("200") and _counts(answer)["outlets"]["created"] == 1
    assert _rows(aworld) == before  # a dry run
    r = client.post("/admin/registry/import/confirm", data={"csrf_token": token, "token": _token(answer)})
    assert r.status_code == 200 and _counts(r.text)["outlets"]["created"] == 1
    assert _rows(aworld) == (before[0], before[1] + 1)


def test_uploads_that_cannot_be_read(admin: Admin) -> None:
    client, token = admin
    answer = _upload(client, token, "notes.txt", b"hello", "text/plain")
    assert answer.startswith("422") and "give an .xlsx workbook" in answer
    answer = _upload(client, token, "registry.xlsx", b"not a zip")
    assert answer.startswith("422") and "cannot read workbook registry.xlsx" in answer
    r = client.post("/admin/registry/import/confirm", data={"csrf_token": token, "token": "../../etc"})
    assert r.status_code == 422 and "upload the file again" in r.text
