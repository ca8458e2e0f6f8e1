"""Reading samples: one with its chain of custody, lists, and the public verification answer.

The verification answer (:func:`verification`) is what anyone holding a label may learn without an account
(防伪查验): whether the code was issued, the issuing agency, the sample's state and when each custody step
happened. It names no enterprise, person, place or note: those are for the parties with a scope.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.registry.agencies_schema import agencies, agency_staff
from envwatch.registry.schema import enterprises
from envwatch.sampling.codes import normalise, parse
from envwatch.sampling.custody import State, next_events
from envwatch.sampling.schema import custody_events, samples


def sample_row(conn: Connection, code: str) -> dict[str, Any]:
    """The sample with ``code`` (as typed or scanned; a verification URL gives its code)."""
    row = conn.execute(select(samples).where(samples.c.code == normalise(code))).mappings().first()
    if row is None:
        raise NotFound(f"no sample with code {normalise(code)}")
    return dict(row)


def custody_of(conn: Connection, sample_id: int) -> list[dict[str, Any]]:
    """The chain of custody, oldest first, each event with the acting person's name."""
    query = (
        select(custody_events, agency_staff.c.name.label("staff_name"))
        .outerjoin(agency_staff, agency_staff.c.id == custody_events.c.staff_id)
        .where(custody_events.c.sample_id == sample_id)
        .order_by(custody_events.c.seq)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def sample_detail(conn: Connection, code: str) -> dict[str, Any]:
    """The sample, its names (agency, enterprise, sampler), its custody and the steps allowed next."""
    sample = sample_row(conn, code)
    names = conn.execute(
        select(agencies.c.name.label("agency_name"), agencies.c.code.label("agency_code")).where(
            agencies.c.id == sample["agency_id"]
        )
    ).mappings().one()  # fmt: skip
    sample |= dict(names)
    sample["enterprise_name"] = (
        conn.execute(select(enterprises.c.name).where(enterprises.c.id == sample["enterprise_id"])).scalar()
        if sample["enterprise_id"] is not None
        else None
    )
    sample["sampler_name"] = (
        conn.execute(
            select(agency_staff.c.name).where(agency_staff.c.id == sample["sampler_staff_id"])
        ).scalar()
        if sample["sampler_staff_id"] is not None
        else None
    )
    state: State = sample["state"]
    sample["next"] = [e for e in next_events(state) if not (e == "print_label" and sample["prints"] > 0)]
    sample["custody"] = custody_of(conn, sample["id"])
    return sample


def list_samples(
    conn: Connection,
    *,
    agency_ids: Collection[int] | None,
    enterprise_ids: Collection[int] | None = None,
    state: str | None = None,
    plan_id: int | None = None,
    needs_review: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Samples of the given agencies or taken at the given enterprises (``agency_ids`` None: all), newest
    first; ``since``/``until`` bound the registration time."""
    s = samples.c
    query = select(samples).order_by(s.created_at.desc(), s.id.desc())
    if agency_ids is not None:
        visible: ColumnElement[bool] = s.agency_id.in_(list(agency_ids))
        if enterprise_ids:
            visible = or_(visible, s.enterprise_id.in_(list(enterprise_ids)))
        query = query.where(visible)
    if state is not None:
        query = query.where(s.state == state)
    if plan_id is not None:
        query = query.where(s.plan_id == plan_id)
    if needs_review is not None:
        query = query.where(s.needs_review.is_(needs_review))
    if since is not None:
        query = query.where(s.created_at >= since)
    if until is not None:
        query = query.where(s.created_at < until)
    return [dict(r) for r in conn.execute(query.limit(limit)).mappings()]


def verification(conn: Connection, text: str) -> dict[str, Any]:
    """The public answer about a scanned or typed code: ``authentic`` False for a malformed, mis-checked or
    unknown code (with the reason), else the agency, state, prints and the times of the custody steps."""
    try:
        code = str(parse(text))
    except InvalidInput as exc:
        return {"code": normalise(text), "authentic": False, "reason": exc.message}
    row = conn.execute(
        select(samples.c.id, samples.c.state, samples.c.prints, samples.c.issue_day, agencies.c.name)
        .join(agencies, agencies.c.id == samples.c.agency_id)
        .where(samples.c.code == code)
    ).first()
    if row is None:
        return {"code": code, "authentic": False, "reason": "no sample with this code was ever issued"}
    steps = conn.execute(
        select(custody_events.c.event, custody_events.c.to_state, custody_events.c.at)
        .where(custody_events.c.sample_id == row.id, custody_events.c.event != "review")
        .order_by(custody_events.c.seq)
    ).all()
    return {
        "code": code,
        "authentic": True,
        "agency": row.name,
        "issued_on": row.issue_day,
        "state": row.state,
        "prints": row.prints,
        "custody": [{"event": e.event, "state": e.to_state, "at": e.at} for e in steps],
    }
