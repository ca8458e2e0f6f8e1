"""The evidence archive's part of the API tenancy test (issue 8), kept here so tests/web/test_tenancy.py stays
readable: each tenant's evidence (a video record of its agency filmed at its enterprise, made through the
real tus upload and ``POST /videos``; an upload left open; the month's self-inspection draw and its item;
the video's evidence entry), the route table rows of ``/api/v1/evidence``, how their path parameters,
queries, headers and bodies name the *other* tenant's objects, and how their lists name a tenant.

Who sees what (``Scope.sees_video``, web/api/videos.py, web/api/evidence_checks.py): a video record like a
sample (its agency; whoever sees the enterprise filmed at); an upload its creating account only; a draw its
agency and the regulators of the agency's region; operators, field staff and auditors nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.evidence import self_inspection, uploads
from envwatch.evidence.videos import VideoDraft, finish

E: Final = "/api/v1/evidence"
TUS: Final = {"Tus-Resumable": "1.0.0"}
# an MP4 file as the archive tells it (the ftyp box), then filler: the server sniffs the first bytes
MP4: Final = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2avc1" + bytes(range(256)) * 64
OPEN_LENGTH: Final = 1000  # the open upload's declared length (nothing sent yet)


class EvidenceTenant(Protocol):
    """The ``Tenant`` fields this module reads and fills (tests/web/test_tenancy.py)."""

    agency_id: int
    enterprise_id: int
    sampling_plan_id: int
    agency_staff_id: int
    sample_code: str
    video_id: int
    video_upload_id: str
    open_upload_id: str
    video_entry_id: int
    video_ref: str
    draw_id: int
    draw_item_id: int


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def tus_create(client: TestClient, length: int) -> str:
    """A new tus upload of ``length`` bytes; its id (the last part of ``Location``)."""
    r = client.post(
        f"{E}/uploads",
        headers=TUS | {"Upload-Length": str(length), "Upload-Metadata": _meta(filename="采样.mp4")},
    )
    assert r.status_code == 201, r.text
    return str(r.headers["Location"].rsplit("/", 1)[-1])


def tus_patch_headers(offset: int) -> dict[str, str]:
    return TUS | {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}


def evidence_of(agency: TestClient, t: EvidenceTenant) -> None:
    """``t``'s evidence, made by its agency's account (``agency`` acts as it): the video of its sample
    filmed at its enterprise under its plan, an upload left open, the draw of the video's month and its item,
    and the video record's evidence entry."""
    t.video_upload_id = tus_create(agency, len(MP4))
    half = len(MP4) // 2  # two PATCHes: the second resumes at the offset the first left
    for first, end in ((0, half), (half, len(MP4))):
        r = agency.patch(
            f"{E}/uploads/{t.video_upload_id}", content=MP4[first:end], headers=tus_patch_headers(first)
        )
        assert r.status_code == 204, r.text
    start = utcnow() - timedelta(minutes=20)
    record = {
        "upload_id": t.video_upload_id,
        "stage": "sampling",
        "plan_id": t.sampling_plan_id,
        "enterprise_id": t.enterprise_id,
        "recorded_start": to_china(start).isoformat(),
        "recorded_end": to_china(start + timedelta(minutes=10)).isoformat(),
        "landmark": "厂区北门 厂牌",
        "sample_codes": [t.sample_code],
        "staff_ids": [t.agency_staff_id],
        "annotation": "采样全过程",
    }
    video = ok(agency.post(f"{E}/videos", json=record), 201)
    t.video_id, t.video_entry_id = video["id"], video["evidence_entry_id"]
    assert video["agency_id"] == t.agency_id and video["enterprise_id"] == t.enterprise_id, video
    t.video_ref = f"video_records/{t.video_id}"
    t.open_upload_id = tus_create(agency, OPEN_LENGTH)
    draw = ok(agency.post(f"{E}/self-inspections", json={"month": to_china(start).strftime("%Y-%m")}), 201)
    t.draw_id = draw["id"]
    items = ok(agency.get(f"{E}/self-inspections/{t.draw_id}"))["items"]
    assert [i["video_id"] for i in items] == [t.video_id], items
    t.draw_item_id = items[0]["id"]


# ---- the route table rows (kinds as in test_tenancy.ROUTES) ----

EVIDENCE_ROUTES: Final[dict[tuple[str, str], str]] = {
    # the log: public like a CT log (hashes, sizes, signatures only); entries copy rows of every tenant
    ("GET", f"{E}/checkpoints"): "open",
    ("GET", f"{E}/checkpoints/latest"): "open",
    ("POST", f"{E}/checkpoints"): "forbidden",  # evidence_admin: admin only
    ("GET", f"{E}/key"): "open",
    ("GET", f"{E}/proofs/inclusion"): "open",
    ("GET", f"{E}/proofs/consistency"): "open",
    ("GET", f"{E}/entries"): "list_or_refused",  # admin only: every other role is refused
    ("GET", f"{E}/entries/{{entry_id}}"): "refused",
    # uploads (tus): the protocol's discovery needs no account; a session is its creating account's only
    ("OPTIONS", f"{E}/uploads"): "open",
    ("POST", f"{E}/uploads"): "open",  # a new empty session of the caller's own: no tenant's row named
    ("HEAD", f"{E}/uploads/{{upload_id}}"): "refused",
    ("PATCH", f"{E}/uploads/{{upload_id}}"): "refused",
    # video records: 403 for roles without video (operators, field staff, auditors), else 404 out of scope
    ("POST", f"{E}/videos"): "refused",
    ("GET", f"{E}/videos"): "list_or_refused",
    ("GET", f"{E}/videos/{{video_id}}"): "refused",
    ("GET", f"{E}/videos/{{video_id}}/content"): "refused",
    ("POST", f"{E}/videos/{{video_id}}/annotations"): "refused",
    # archive checks, storage, self-inspection (WZ-A1-5/13/14, WZ-A2-8)
    ("GET", f"{E}/checks"): "list_or_refused",
    ("GET", f"{E}/storage"): "open",  # the platform's capacity: no tenant's data (enterprises: 403 by role)
    ("POST", f"{E}/storage/check"): "forbidden",  # evidence_admin
    ("GET", f"{E}/self-inspections"): "list_or_refused",
    ("POST", f"{E}/self-inspections"): "refused",
    ("GET", f"{E}/self-inspections/{{draw_id}}"): "refused",
    ("POST", f"{E}/self-inspections/{{draw_id}}/items/{{item_id}}/outcome"): "refused",
}

EVIDENCE_PARAMS: Final[dict[str, Callable[[Any, str], Any]]] = {
    "entry_id": lambda t, _path: t.video_entry_id,
    # HEAD and PATCH name the other side's upload that is still open: were the owner not checked, the
    # PATCH would write into it (204); POST /videos (below) names its finished one
    "upload_id": lambda t, _path: t.open_upload_id,
    "video_id": lambda t, _path: t.video_id,
    "draw_id": lambda t, _path: t.draw_id,
    "item_id": lambda t, _path: t.draw_item_id,
}

# how a list row names its tenant: (row key, tenant attribute)
EVIDENCE_LIST_KEYS: Final[dict[str, tuple[str, str]]] = {
    f"{E}/entries": ("ref", "video_ref"),
    f"{E}/videos": ("enterprise_id", "enterprise_id"),
    f"{E}/checks": ("agency_id", "agency_id"),
    f"{E}/self-inspections": ("agency_id", "agency_id"),
}
ARCHIVE_REFUSED: Final = frozenset({"enterprise", "operator", "field_staff", "auditor"})
# roles an evidence list refuses outright (403) rather than answering without the other's rows
EVIDENCE_LIST_REFUSED_FOR: Final[dict[str, frozenset[str]]] = {
    f"{E}/entries": ARCHIVE_REFUSED | {"agency", "regulator", "county_regulator"},
    f"{E}/videos": frozenset({"operator", "field_staff", "auditor"}),
    f"{E}/checks": frozenset({"operator", "field_staff", "auditor"}),
    f"{E}/self-inspections": ARCHIVE_REFUSED,
}


def evidence_query(path: str, t: Any) -> dict[str, Any]:
    """Query parameters of an evidence route; ``t`` is the tenant whose rows are asked for (the other one in
    the tenancy walk, each side in the admin check)."""
    if path == f"{E}/entries":
        return {"ref": t.video_ref}
    if path == f"{E}/proofs/inclusion":
        return {"leaf_index": 0, "tree_size": 1}
    if path == f"{E}/proofs/consistency":
        return {"first": 1, "second": 2}
    if path == f"{E}/checks":  # this China month and the next day: the videos and samples of today
        today = to_china(utcnow()).date()
        return {"from": today.replace(day=1).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    return {}


def evidence_request(method: str, path: str, other: Any) -> dict[str, Any]:
    """What else a request to ``path`` carries: tus headers and bytes, or a JSON body naming the other
    tenant's objects (valid, so that a refusal is the tenancy's and not a validation error)."""
    if path.startswith(f"{E}/uploads"):
        if method == "POST":
            return {"headers": TUS | {"Upload-Length": "10"}}
        if method == "PATCH":  # at the open upload's true offset (0): only the owner check can refuse it
            return {"headers": tus_patch_headers(0), "content": MP4[:100]}
        return {"headers": TUS}
    if method == "GET":
        return {}
    start = utcnow() - timedelta(minutes=20)
    bodies: dict[str, Any] = {
        f"{E}/videos": {
            "upload_id": other.video_upload_id,  # finished: were the owner not checked, its record answers
            "stage": "sampling",
            "plan_id": other.sampling_plan_id,
            "enterprise_id": other.enterprise_id,
            "recorded_start": to_china(start).isoformat(),
            "recorded_end": to_china(start + timedelta(minutes=10)).isoformat(),
            "landmark": "x",
        },
        f"{E}/videos/{{video_id}}/annotations": {"text": "x", "at_second": 1},
        f"{E}/self-inspections": {"month": to_china(start).strftime("%Y-%m"), "agency_id": other.agency_id},
        f"{E}/self-inspections/{{draw_id}}/items/{{item_id}}/outcome": {"outcome": "problem", "note": "x"},
    }
    return {"json": bodies[path]} if path in bodies else {}


def evidence_listed(body: Any) -> list[dict[str, Any]] | None:
    """The rows of an evidence list answer (None: not an evidence list)."""
    if isinstance(body, dict) and "rules" in body:  # archive checks: every rule's findings
        return [f for rule in body["rules"] for f in rule["findings"]]
    if isinstance(body, dict):
        for key in ("draws", "entries"):
            if key in body:
                return body[key]  # type: ignore[no-any-return]
    return None


# ---- each side's own evidence, filters naming the other side, mixed ids ----

VIDEO_READERS: Final = ("regulator", "county_regulator", "enterprise", "agency")
DRAW_READERS: Final = ("regulator", "county_regulator", "agency")


def own_side_problems(as_role: Callable[[str], TestClient], roles: list[str], mine: Any) -> list[str]:
    """What goes wrong when each role reads its own side's evidence (empty when all is right): the readers
    get the video, its bytes and the draw; the others 403 (so the walk's refusals are the tenancy's)."""
    problems: list[str] = []

    def want(role: str, url: str, status: int, **kwargs: Any) -> Any:
        r = as_role(role).request(kwargs.pop("method", "GET"), url, **kwargs)
        if r.status_code != status:
            problems.append(f"{role} {url}: {r.status_code}, want {status}: {r.text[:160]}")
        return r

    for role in roles:
        video = 200 if role in VIDEO_READERS else 403
        want(role, f"{E}/videos/{mine.video_id}", video)
        content = want(role, f"{E}/videos/{mine.video_id}/content", video)
        if video == 200 and content.status_code == 200 and content.content != MP4:
            problems.append(f"{role}: the content of video {mine.video_id} is not the uploaded file")
        listed = want(role, f"{E}/videos", video)
        if video == 200 and mine.video_id not in [v["id"] for v in listed.json()["rows"]]:
            problems.append(f"{role}: its own video {mine.video_id} is not in GET /videos")
        draw = 200 if role in DRAW_READERS else 403
        want(role, f"{E}/self-inspections/{mine.draw_id}", draw)
        draws = want(role, f"{E}/self-inspections", draw)
        if draw == 200 and mine.draw_id not in [d["id"] for d in draws.json()["draws"]]:
            problems.append(f"{role}: its own draw {mine.draw_id} is not in GET /self-inspections")
        want(role, f"{E}/entries/{mine.video_entry_id}", 403)  # entries: admin only (every tenant's rows)
        upload = 200 if role == "agency" else 403
        want(role, f"{E}/uploads/{mine.open_upload_id}", upload, method="HEAD", headers=TUS)
    return problems


def filter_leaks(client: TestClient, other: Any) -> list[str]:
    """The lists asked with a filter naming ``other``'s agency, enterprise, sample or staff member: none of
    its rows come back (a refusal by role, 403, is fine)."""
    asks = [
        (f"{E}/videos", {"agency_id": other.agency_id}, "rows"),
        (f"{E}/videos", {"enterprise_id": other.enterprise_id}, "rows"),
        (f"{E}/videos", {"sample_code": other.sample_code}, "rows"),
        (f"{E}/videos", {"staff_id": other.agency_staff_id}, "rows"),
        (f"{E}/self-inspections", {"agency_id": other.agency_id}, "draws"),
        (f"{E}/checks", evidence_query(f"{E}/checks", other) | {"agency_id": other.agency_id}, "rules"),
    ]
    leaks = []
    for path, params, key in asks:
        r = client.get(path, params=params)
        if r.status_code == 403:
            continue
        if r.status_code != 200:
            leaks.append(f"{path} {params}: {r.status_code} {r.text[:160]}")
            continue
        rows = evidence_listed(r.json()) if key != "rows" else r.json()["rows"]
        if any(row.get("agency_id") == other.agency_id for row in rows or []):
            leaks.append(f"{path} {params}: answers the other tenant's rows {str(rows)[:200]}")
    return leaks


# ---- the pages' world: the same evidence through the store functions ----


def video_and_draw(
    engine: Engine, settings: Settings, sample: dict[str, Any], enterprise_id: int, now: datetime
) -> dict[str, str]:
    """A sampling video of ``sample``'s agency at ``enterprise_id`` under its plan (an upload whose bytes
    are written where the tus PATCHes would put them, then finished as ``POST /videos`` does), and that
    agency's self-inspection draw of the video's month: ``video_id``, ``draw_id``, ``item_id`` and the
    ``month`` (YYYY-MM), as text (path parameters)."""
    with engine.begin() as conn:
        session = uploads.create(
            conn, settings, length=len(MP4), meta={"filename": "采样.mp4"}, by="admin1", now=now
        )
    uploads.part_path(settings, session.id).write_bytes(MP4)
    start = now - timedelta(minutes=30)
    draft = VideoDraft(
        upload_id=session.id,
        stage="sampling",
        agency_id=sample["agency_id"],
        recorded_start=start,
        recorded_end=start + timedelta(minutes=10),
        enterprise_id=enterprise_id,
        plan_id=sample["plan_id"],
        landmark="厂区北门 厂牌",
        sample_codes=[sample["code"]],
    )
    video_id, _made = finish(engine, settings, draft, by="admin1", now=now)
    with engine.begin() as conn:
        month = to_china(start).date()
        draw = self_inspection.draw(conn, sample["agency_id"], month, settings, "admin1", now)
        (item,) = self_inspection.draw_items(conn, draw["id"])
    ids = {"video_id": video_id, "draw_id": draw["id"], "item_id": item["id"]}
    return {name: str(value) for name, value in ids.items()} | {"month": month.strftime("%Y-%m")}
