"""What the sampling API and pages share: who acts, which samples a scope sees, the entry rules.

- The person acting: an ``agency`` account stands for the agency staff member linked to it
  (``agency_staff.username``) and may not name another; admin names one (``staff_id``).
- A sample or plan outside the scope is "not found", exactly as a missing one (web.scope).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from envwatch.core.errors import Forbidden, InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.registry.agencies import agency_staff_of_user
from envwatch.sampling.entry import EntryRules
from envwatch.sampling.plans import get_plan
from envwatch.sampling.reads import sample_row
from envwatch.web.scope import Scope


def entry_rules(settings: Settings) -> EntryRules:
    return EntryRules(
        max_distance_m=settings.sampling_max_distance_m,
        offline_max_age=timedelta(hours=settings.sampling_offline_max_age_h),
        clock_skew=timedelta(seconds=settings.sampling_clock_skew_s),
        entry_lag=timedelta(minutes=settings.sampling_entry_lag_min),
    )


def acting_staff_id(conn: Connection, scope: Scope, named: int | None) -> int | None:
    """The agency staff member acting: an agency account's own person, or the one admin names."""
    if scope.role != "agency":
        return named
    person = agency_staff_of_user(conn, scope.principal.name)
    if person is None or person["agency_id"] != scope.principal.agency_id:
        raise Forbidden(
            f"account {scope.principal.name} is not linked to a staff member of its agency: "
            "link it (agency staff username) first"
        )
    if named is not None and named != person["id"]:
        raise Forbidden("an agency account acts as its own staff member only (leave staff_id out)")
    return int(person["id"])


def visible_agency_ids(scope: Scope) -> list[int] | None:
    return None if scope.agency_ids is None else list(scope.agency_ids)


def visible_enterprise_ids(scope: Scope) -> list[int] | None:
    return None if scope.enterprise_ids is None else list(scope.enterprise_ids)


def require_sample(conn: Connection, scope: Scope, code: str) -> dict[str, Any]:
    row = sample_row(conn, code)
    if not scope.sees_sample(row):
        raise NotFound(f"no sample with code {row['code']}")
    return row


def require_plan(conn: Connection, scope: Scope, plan_id: int) -> dict[str, Any]:
    plan = get_plan(conn, plan_id)
    if not scope.sees_sample(plan):
        raise NotFound(f"no sampling plan with id {plan_id}")
    return plan


def own_agency(scope: Scope, named: int | None) -> int:
    """The agency a write is for: an agency account's own; admin names it."""
    if scope.role == "agency":
        if scope.principal.agency_id is None:
            raise Forbidden("this agency account has no agency")
        if named is not None and named != scope.principal.agency_id:
            raise NotFound(f"no testing agency with id {named}")
        return scope.principal.agency_id
    if named is None:
        raise InvalidInput("agency_id is required")
    scope.require_agency(named)
    return named
