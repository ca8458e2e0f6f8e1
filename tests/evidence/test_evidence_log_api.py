"""The evidence log API over the real app and a real SQLite store: public checkpoints, key and proofs that
a third party checks with evidence.merkle/checkpoint alone; entries for admin only."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.evidence import submit
from envwatch.core.settings import Settings
from envwatch.evidence import checkpoint, log, merkle
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate

URL = "/api/v1/evidence"
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ADMIN = Principal("admin", "admin")
REGULATOR = Principal("wz", "regulator", region_code="3303")
ENTERPRISE = Principal("ent", "enterprise", enterprise_id=1)
AGENCY = Principal("lab", "agency", agency_id=1)


@dataclass
class Api:
    client: TestClient
    engine: Engine

    def as_(self, principal: Principal | None) -> TestClient:
        overrides = self.client.app.dependency_overrides  # type: ignore[attr-defined]
        overrides.clear()
        if principal is not None:
            overrides[authenticate] = lambda: principal
        return self.client

    def submit(self, count: int, ref: str = "custody_events/17") -> list[int]:
        with self.engine.begin() as conn:
            return [submit(conn, "custody_event", ref, {"n": n}, NOW) for n in range(count)]


@pytest.fixture
def api(settings: Settings, sqlite_engine: Engine) -> Iterator[Api]:
    with TestClient(create_app(settings, sqlite_engine)) as client:
        yield Api(client, sqlite_engine)
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_checkpoints_key_and_proofs_are_public_and_check_offline(api: Api) -> None:
    public = api.as_(None)
    assert public.get(f"{URL}/checkpoints/latest").status_code == 404
    assert ok(public.get(f"{URL}/checkpoints"))["checkpoints"] == []

    first_ids = api.submit(5)
    first = ok(api.as_(ADMIN).post(f"{URL}/checkpoints"), 201)
    assert first["created"] and first["integrated"] == 5 and first["checkpoint"]["tree_size"] == 5
    again = ok(api.as_(ADMIN).post(f"{URL}/checkpoints"))  # did not grow: 200, the latest
    assert not again["created"] and again["checkpoint"]["id"] == first["checkpoint"]["id"]
    api.submit(4, ref="marks/3")
    second = ok(api.as_(ADMIN).post(f"{URL}/checkpoints"), 201)["checkpoint"]
    assert second["tree_size"] == 9

    public = api.as_(None)
    key = ok(public.get(f"{URL}/key"))
    name, key_id, _ = checkpoint.parse_vkey(key["vkey"])
    assert key["algorithm"] == "Ed25519" and key["key_name"] == f"{name}+{key_id.hex()}"
    assert first["checkpoint"]["key_name"] == key["key_name"]
    pem = load_pem_public_key(key["public_key_pem"].encode())
    assert checkpoint.parse_vkey(key["vkey"])[2].public_bytes_raw() == pem.public_bytes_raw()  # type: ignore[union-attr]

    page = ok(public.get(f"{URL}/checkpoints", params={"limit": 1}))
    assert page["total"] == 2 and [p["id"] for p in page["checkpoints"]] == [second["id"]]
    latest = ok(public.get(f"{URL}/checkpoints/latest"))
    assert latest == second
    signed = checkpoint.open_note(latest["note"], key["vkey"])
    assert signed.size == 9 and signed.root.hex() == latest["root_hash"]
    old = checkpoint.open_note(first["checkpoint"]["note"], key["vkey"])

    consistency = ok(public.get(f"{URL}/proofs/consistency", params={"first": 5, "second": 9}))
    merkle.verify_consistency(5, 9, old.root, signed.root, [bytes.fromhex(h) for h in consistency["proof"]])

    inclusion = ok(public.get(f"{URL}/proofs/inclusion", params={"leaf_index": 2, "tree_size": 9}))
    assert inclusion["checkpoint"]["id"] == second["id"] and inclusion["root_hash"] == latest["root_hash"]
    entry = ok(api.as_(ADMIN).get(f"{URL}/entries/{first_ids[2]}"))
    leaf = merkle.leaf_hash(entry["body"].encode())  # the third party hashes the body it was given
    assert leaf.hex() == inclusion["leaf_hash"]
    merkle.verify_inclusion(leaf, 2, 9, [bytes.fromhex(h) for h in inclusion["proof"]], signed.root)


def test_an_entry_carries_its_leaf_and_a_proof_against_the_latest_checkpoint(api: Api) -> None:
    ids = api.submit(3)
    admin = api.as_(ADMIN)
    pending = ok(admin.get(f"{URL}/entries/{ids[0]}"))
    assert pending["leaf_index"] is None and pending["inclusion"] is None
    ok(admin.post(f"{URL}/checkpoints"), 201)
    later = api.submit(1)
    with api.engine.begin() as conn:  # integrated, but no checkpoint covers it yet
        log.integrate(conn, NOW)
    uncovered = ok(admin.get(f"{URL}/entries/{later[0]}"))
    assert uncovered["leaf_index"] == 3 and uncovered["inclusion"] is None

    found = ok(admin.get(f"{URL}/entries/{ids[1]}"))
    assert found["ref"] == "custody_events/17" and found["leaf_index"] == 1
    proof = found["inclusion"]
    signed = checkpoint.open_note(proof["checkpoint"]["note"], ok(api.client.get(f"{URL}/key"))["vkey"])
    assert proof["tree_size"] == signed.size == 3
    merkle.verify_inclusion(
        merkle.leaf_hash(found["body"].encode()),
        1,
        3,
        [bytes.fromhex(h) for h in proof["hashes"]],
        signed.root,
    )
    assert base64.b64encode(signed.root).decode() in proof["checkpoint"]["note"]
    assert api.as_(ADMIN).get(f"{URL}/entries/999").status_code == 404


def test_entries_by_ref_for_admin_only(api: Api) -> None:
    ids = api.submit(2)
    api.submit(1, ref="marks/3")
    listed = ok(api.as_(ADMIN).get(f"{URL}/entries", params={"ref": "custody_events/17"}))
    assert [e["id"] for e in listed["entries"]] == ids
    assert listed["entries"][0]["kind"] == "custody_event"
    # entries copy every tenant's rows: a regulator is refused too (it reads its own on the /evidence page)
    for principal in (REGULATOR, ENTERPRISE, AGENCY):
        response = api.as_(principal).get(f"{URL}/entries", params={"ref": "custody_events/17"})
        assert response.status_code == 403, response.text
        assert api.as_(principal).get(f"{URL}/entries/{ids[0]}").status_code == 403
    assert api.as_(None).get(f"{URL}/entries", params={"ref": "custody_events/17"}).status_code == 401


def test_only_admin_makes_checkpoints_and_bad_proof_requests_are_422(api: Api) -> None:
    api.submit(2)
    assert api.as_(REGULATOR).post(f"{URL}/checkpoints").status_code == 403
    assert api.as_(None).post(f"{URL}/checkpoints").status_code == 401
    ok(api.as_(ADMIN).post(f"{URL}/checkpoints"), 201)
    public = api.as_(None)
    for params in ({"leaf_index": 2, "tree_size": 2}, {"leaf_index": 0, "tree_size": 3}):
        assert public.get(f"{URL}/proofs/inclusion", params=params).status_code == 422
    for params in ({"first": 2, "second": 1}, {"first": 1, "second": 5}):
        assert public.get(f"{URL}/proofs/consistency", params=params).status_code == 422
