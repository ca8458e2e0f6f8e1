"""REST API: compliance findings (合规问题), the rules and their runs (合规检查), issue 9.

- ``GET /api/v1/findings``: the findings the caller sees, newest last seen first, filtered by ``rule``
  (repeatable), ``state`` (repeatable: open, resolved, waived), ``severity``, ``subject_kind``,
  ``enterprise_id``, ``operator_id``, ``agency_id``, ``device_id``, ``region`` (a region code prefix, as the
  registry's filter), ``from``/``to`` (China days, on ``last_seen``, both included) and ``q`` (text in the
  message, rule or key); paged with ``limit``/``offset``. Each row carries its evidence links
  (``[{kind, ref, label}]``); ``counts`` gives, for the whole filtered set, the findings per rule and state.
- ``GET /api/v1/findings/{id}``: one finding with its event history (opened, resolved, reopened, waived,
  unwaived) and its rule's titles.
- ``POST /api/v1/findings/{id}/waive`` and ``/unwaive`` ``{"reason"}``: write kind ``finding_waive``
  (admin, regulator); the reason is required (豁免理由). 409 when already waived / not waived.
- ``GET /api/v1/compliance/rules``: every rule with its clause, titles, pack, subject, inputs, whether it is
  switched on, and each parameter's effective value, default and whether a setting overrides it.
- ``POST /api/v1/compliance/runs`` ``{"at"?, "rules"?}``: write kind ``compliance_run`` (admin, regulator);
  runs the rules now, synchronously, and answers what each rule did (201). 422 for an unknown or
  switched-off rule, a moment in the future or a bad parameter override.
- ``GET /api/v1/compliance/runs``: the latest runs (every role; the per-rule outcomes, whose error texts
  may name any tenant's objects, only for admin and regulator).

Visibility is :meth:`Scope.sees_finding` (an agency its own; operators, their staff and auditors those naming
their operator, the auditor only those touching its period; an enterprise those at itself; a regulator its
region's and the operator-wide ones of operators working there). The list's SQL condition is that rule
(for an auditor, that rule but its period, applied to each row afterwards); a finding outside the scope is 404 exactly like a missing one. The query
helpers here are shared with the pages and ``envwatch compliance findings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from envwatch.compliance.findings import STATES, finding_history, unwaive, waive
from envwatch.compliance.packs import RULES
from envwatch.compliance.rules import SUBJECT_KINDS, ParamError, Rule, RuleSet
from envwatch.compliance.run import RunResult, run_rules
from envwatch.compliance.schema import compliance_runs, findings
from envwatch.core.clock import CHINA_TZ, utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.registry.service import region_prefix
from envwatch.web.api.common import engine_of, jsonable, parse_time, settings_of, time_out
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1", tags=["compliance"])

SEVERITIES: Final = ("violation", "warning")
RUN_DETAIL_ROLES: Final = frozenset({"admin", "regulator"})
_f = findings.c


def rule_set_of(request: Request) -> RuleSet:
    """The rules the app judges with: the packs' ``RULES`` unless the app was given others (tests set
    ``app.state.compliance_rules``)."""
    chosen: RuleSet = getattr(request.app.state, "compliance_rules", RULES)
    return chosen


# ---- the query (shared with the pages and the CLI) ----


@dataclass(frozen=True)
class FindingFilter:
    """What a findings list asks for; empty fields do not filter. Days are China days on ``last_seen``."""

    rules: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    severity: str | None = None
    subject_kind: str | None = None
    enterprise_id: int | None = None
    operator_id: int | None = None
    agency_id: int | None = None
    device_id: int | None = None
    region: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    q: str = ""

    def check(self) -> None:
        """InvalidInput naming the first value that is not one of the known ones."""
        for state in self.states:
            if state not in STATES:
                raise InvalidInput(f"state={state!r} is not one of {', '.join(STATES)}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise InvalidInput(f"severity={self.severity!r} is not one of {', '.join(SEVERITIES)}")
        if self.subject_kind is not None and self.subject_kind not in SUBJECT_KINDS:
            raise InvalidInput(f"subject_kind={self.subject_kind!r} is not one of {', '.join(SUBJECT_KINDS)}")
        if self.first_day and self.last_day and self.first_day > self.last_day:
            raise InvalidInput(f"from {self.first_day} is after to {self.last_day}")


@dataclass
class FindingPage:
    rows: list[dict[str, Any]]
    total: int
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    by_state: dict[str, int] = field(default_factory=dict)


def _china_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


def scope_clause(scope: Scope) -> ColumnElement[bool] | None:
    """:meth:`Scope.sees_finding` as a SQL condition (for an auditor without its period, which
    :func:`select_findings` applies afterwards); None for everything."""
    if scope.everything and scope.agency_ids is None:
        return None
    role, who = scope.role, scope.principal
    if role == "agency":
        return _f.agency_id.in_(list(scope.agency_ids or ()))
    if role in ("operator", "field_staff", "auditor"):
        return false() if who.operator_id is None else _f.operator_id == who.operator_id
    ents = list(scope.enterprise_ids or ())
    if role == "enterprise":
        return _f.enterprise_id.in_(ents)
    return or_(
        _f.enterprise_id.in_(ents),
        and_(_f.enterprise_id.is_(None), _f.agency_id.in_(list(scope.agency_ids or ()))),
        and_(
            _f.enterprise_id.is_(None),
            _f.agency_id.is_(None),
            _f.operator_id.in_(list(scope.operator_ids or ())),
        ),
    )


def _conditions(flt: FindingFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.rules:
        where.append(_f.rule.in_(flt.rules))
    if flt.states:
        where.append(_f.state.in_(flt.states))
    for column, value in (
        (_f.severity, flt.severity),
        (_f.subject_kind, flt.subject_kind),
        (_f.enterprise_id, flt.enterprise_id),
        (_f.operator_id, flt.operator_id),
        (_f.agency_id, flt.agency_id),
        (_f.device_id, flt.device_id),
    ):
        if value is not None:
            where.append(column == value)
    if flt.region:
        where.append(_f.region_code.startswith(region_prefix(flt.region), autoescape=True))
    if flt.first_day is not None:
        where.append(_f.last_seen >= _china_midnight(flt.first_day))
    if flt.last_day is not None:
        where.append(_f.last_seen < _china_midnight(flt.last_day + timedelta(days=1)))
    return where


def _text(q: str) -> ColumnElement[bool] | None:
    wanted = q.strip().lower()
    if not wanted:
        return None
    return or_(*(func.lower(c).contains(wanted, autoescape=True) for c in (_f.message, _f.rule, _f.key)))


def select_findings(
    conn: Connection, flt: FindingFilter, scope: Scope | None, *, limit: int | None = None, offset: int = 0
) -> FindingPage:
    """The findings ``scope`` sees (None: all, the command line) matching ``flt``, newest last seen first;
    ``limit``/``offset`` page the rows, the total and counts are of the whole filtered set.

    The SQL condition is exact for every scope but an auditor's (its period is :meth:`Scope.sees_finding`'s
    own arithmetic): then the database counts and pages; for an auditor (one operator's findings) the rows
    are filtered here."""
    flt.check()
    where = _conditions(flt)
    if scope is not None and (clause := scope_clause(scope)) is not None:
        where.append(clause)
    if (text := _text(flt.q)) is not None:
        where.append(text)
    ordered = select(findings).where(*where).order_by(_f.last_seen.desc(), _f.id.desc())
    by_state = dict.fromkeys(STATES, 0)
    by_rule: dict[str, dict[str, int]] = {}
    if scope is None or scope.period is None:
        grouped = select(_f.rule, _f.state, func.count()).where(*where).group_by(_f.rule, _f.state)
        counted = [(r, st, int(n)) for r, st, n in conn.execute(grouped)]
        query = ordered.offset(offset) if limit is None else ordered.limit(limit).offset(offset)
        shown = [dict(r) for r in conn.execute(query).mappings()]
    else:
        rows = [dict(r) for r in conn.execute(ordered).mappings()]
        rows = [r for r in rows if scope.sees_finding(r)]
        counted = [(r["rule"], r["state"], 1) for r in rows]
        shown = rows[offset : offset + limit] if limit is not None else rows[offset:]
    for rule, state, n in counted:
        counts = by_rule.setdefault(rule, dict.fromkeys((*STATES, "total"), 0))
        counts[state] += n
        counts["total"] += n
        by_state[state] += n
    return FindingPage(shown, sum(by_state.values()), dict(sorted(by_rule.items())), by_state)


def visible_finding(conn: Connection, scope: Scope | None, finding_id: int) -> dict[str, Any]:
    """One finding, NotFound when missing or outside the scope (the same message)."""
    row = conn.execute(select(findings).where(_f.id == finding_id)).mappings().one_or_none()
    if row is None or (scope is not None and not scope.sees_finding(dict(row))):
        raise NotFound(f"no finding with id {finding_id}")
    return dict(row)


# ---- JSON ----


def finding_out(row: dict[str, Any]) -> dict[str, Any]:
    return jsonable(row)


def rule_brief(rule_set: RuleSet, rule_id: str) -> dict[str, Any] | None:
    rule = rule_set.rules.get(rule_id)
    if rule is None:  # a rule since removed: its findings stay
        return None
    return {
        "id": rule.id,
        "requirement": rule.requirement,
        "title": rule.title,
        "title_zh": rule.title_zh,
        "pack": rule.pack,
    }


def detail_out(conn: Connection, row: dict[str, Any], rule_set: RuleSet) -> dict[str, Any]:
    out = finding_out(row)
    out["history"] = [jsonable(e) for e in finding_history(conn, row["id"])]
    out["rule_info"] = rule_brief(rule_set, row["rule"])
    return out


def rule_out(rule: Rule, settings: Settings) -> dict[str, Any]:
    """A rule as the rule list shows it; a bad override of it is reported in ``error`` (the defaults shown)."""
    overrides = settings.compliance_params.get(rule.id, {})
    error = None
    try:
        values = rule.resolved_params(settings)
    except ParamError as exc:
        error, values = exc.message, {p.name: p.default_value(settings) for p in rule.params}
    return {
        "id": rule.id,
        "requirement": rule.requirement,
        "title": rule.title,
        "title_zh": rule.title_zh,
        "pack": rule.pack,
        "subject": rule.subject,
        "inputs": rule.inputs,
        "enabled": rule.enabled(settings),
        "params": [
            {
                "name": p.name,
                "description": p.description,
                "value": _plain(values[p.name]),
                "default": _plain(p.default_value(settings)),
                "setting": p.setting,
                "overridden": p.name in overrides,
            }
            for p in rule.params
        ],
        "error": error,
    }


def _plain(value: Any) -> Any:
    """A parameter value as JSON: exact numbers as strings (like every Decimal the API answers)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def rules_out(rule_set: RuleSet, settings: Settings) -> list[dict[str, Any]]:
    return [rule_out(rule, settings) for rule in rule_set]


def run_out(row: dict[str, Any], detail: bool) -> dict[str, Any]:
    outcomes: dict[str, dict[str, Any]] = row["rules"] or {}
    out = {
        "id": row["id"],
        "at": time_out(row["at"]),
        "started_at": time_out(row["started_at"]),
        "finished_at": time_out(row["finished_at"]),
        "trigger": row["trigger"],
        "ok": row["ok"],
        "run_by": row["run_by"],
        "rules_run": len(outcomes),
        "rules_failed": sum(1 for o in outcomes.values() if "error" in o),
    }
    if detail:
        out["rules"] = outcomes
    return out


def result_out(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "at": time_out(result.at),
        "ok": result.ok,
        "open_findings": result.open_findings,
        "rules": result.rules,
    }


def recent_runs(conn: Connection, limit: int) -> list[dict[str, Any]]:
    query = select(compliance_runs).order_by(compliance_runs.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


# ---- routes ----


def narrowed(scope: Scope, flt: FindingFilter) -> None:
    """404 for a filter naming an enterprise, operator, agency or device the caller does not see; for an
    auditor, 403 for days outside its period (as the other lists)."""
    if flt.enterprise_id is not None:
        scope.require_enterprise(flt.enterprise_id)
    if flt.operator_id is not None:
        scope.require_operator(flt.operator_id)
    if flt.agency_id is not None:
        scope.require_agency(flt.agency_id)
    if flt.device_id is not None:
        scope.require_device_id(flt.device_id)
    if scope.period is not None and (flt.first_day is not None or flt.last_day is not None):
        scope.require_days(flt.first_day or scope.period[0], flt.last_day or scope.period[1])


@router.get("/findings", summary="Compliance findings the caller sees, with counts by rule and state")
def list_findings(
    request: Request,
    scope: CurrentScope,
    rule: Annotated[list[str] | None, Query(description="rule ID, e.g. SX-18.3-24H (repeatable)")] = None,
    state: Annotated[list[str] | None, Query(description="open | resolved | waived (repeatable)")] = None,
    severity: Annotated[str | None, Query(description="violation | warning")] = None,
    subject_kind: Annotated[
        str | None, Query(description="enterprise | outlet | device | operator | agency")
    ] = None,
    enterprise_id: int | None = None,
    operator_id: int | None = None,
    agency_id: int | None = None,
    device_id: int | None = None,
    region: Annotated[str | None, Query(description="region code (prefix: 33, 3303, 330302)")] = None,
    from_: Annotated[date | None, Query(alias="from", description="first China day of last_seen")] = None,
    to: Annotated[date | None, Query(description="last China day of last_seen (included)")] = None,
    q: Annotated[str, Query(max_length=200, description="text in the message, rule or key")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    flt = FindingFilter(
        rules=tuple(rule or ()), states=tuple(state or ()), severity=severity, subject_kind=subject_kind,
        enterprise_id=enterprise_id, operator_id=operator_id, agency_id=agency_id, device_id=device_id,
        region=region or None, first_day=from_, last_day=to, q=q,
    )  # fmt: skip
    narrowed(scope, flt)
    with engine_of(request).connect() as conn:
        page = select_findings(conn, flt, scope, limit=limit, offset=offset)
    return {
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "counts": {"by_rule": page.by_rule, "by_state": page.by_state},
        "rows": [finding_out(r) for r in page.rows],
    }


@router.get("/findings/{finding_id}", summary="One finding with its history")
def get_finding(request: Request, scope: CurrentScope, finding_id: int) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        row = visible_finding(conn, scope, finding_id)
        return detail_out(conn, row, rule_set_of(request))


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(description="why (豁免理由), required; at most 2000 characters")


def decide(request: Request, scope: Scope, finding_id: int, reason: str, waived: bool) -> dict[str, Any]:
    """Waive or withdraw a waiver: 404 outside the scope, then 403 for the role, then the store's 422/409."""
    with engine_of(request).connect() as conn:
        visible_finding(conn, scope, finding_id)
    scope.require_write("finding_waive")
    now = utcnow()
    with engine_of(request).begin() as conn:
        change = waive if waived else unwaive
        change(conn, finding_id, reason, by=scope.principal.name, now=now)
        row = visible_finding(conn, None, finding_id)
        return detail_out(conn, row, rule_set_of(request))


@router.post("/findings/{finding_id}/waive", summary="Waive a finding, with a reason (admin, regulator)")
def post_waive(request: Request, scope: CurrentScope, finding_id: int, body: ReasonIn) -> dict[str, Any]:
    return decide(request, scope, finding_id, body.reason, waived=True)


@router.post("/findings/{finding_id}/unwaive", summary="Withdraw a waiver, with a reason (admin, regulator)")
def post_unwaive(request: Request, scope: CurrentScope, finding_id: int, body: ReasonIn) -> dict[str, Any]:
    return decide(request, scope, finding_id, body.reason, waived=False)


@router.get(
    "/compliance/rules", summary="Every compliance rule with its parameters and their effective values"
)
def list_rules(request: Request, scope: CurrentScope) -> dict[str, Any]:
    return {"rules": rules_out(rule_set_of(request), settings_of(request))}


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: str | None = Field(
        default=None, description="the moment judged (ISO 8601; no offset = China time); default now"
    )
    rules: list[str] | None = Field(default=None, description="rule IDs; default every enabled rule")


def start_run(request: Request, scope: Scope, at: datetime | None, rules: list[str] | None) -> RunResult:
    scope.require_write("compliance_run")
    return run_rules(
        engine_of(request),
        settings_of(request),
        at=at,
        rule_ids=rules or None,
        trigger="demand",
        by=scope.principal.name,
        rule_set=rule_set_of(request),
    )


@router.post("/compliance/runs", status_code=201, summary="Run the rules now and store their findings")
def post_run(request: Request, scope: CurrentScope, body: RunIn) -> dict[str, Any]:
    scope.require_write("compliance_run")
    at = parse_time("at", body.at)
    return result_out(start_run(request, scope, at, body.rules))


@router.get("/compliance/runs", summary="The latest compliance runs, newest first")
def list_runs(
    request: Request, scope: CurrentScope, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        rows = recent_runs(conn, limit)
    detail = scope.role in RUN_DETAIL_ROLES
    return {"runs": [run_out(r, detail) for r in rows]}
