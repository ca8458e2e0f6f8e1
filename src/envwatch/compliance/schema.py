"""Tables of the compliance engine (合规判定, issue 9): findings, runs, operator assessment, credit, supervision.

- ``findings``: one row per situation a rule found (unique ``(rule, key)``), the *projection* of its
  events: state (open / resolved / waived), first and last seen, the newest message and evidence links.
  Updated in place by re-runs; every state change is a ``finding_events`` row.
- ``finding_events``: opened, resolved, reopened, waived, unwaived; append-only, each logged as evidence.
- ``compliance_runs``: one row per check run (scheduled or on demand): the time judged, the rules run and
  what each produced or failed with. Inserted when the run starts (its id goes on the events it causes),
  completed once when it ends, then logged as evidence; operational, so not append-only.
- ``operator_assessments``: a published quarterly assessment (季度考核, SX-26) of one operator: score,
  components, the formula used, rank among how many, last place. Append-only; a re-publication of the same
  quarter is a new row and the newest wins.
- ``credit_events``: the operator credit file (信用档案, SX-27/SX-32): warnings, penalties, bad records,
  blacklisting and its lifting, notes. Append-only; the blacklist is the fold of these events.
- ``supervision_plans`` / ``supervision_plan_items`` / ``supervision_results``: the city's monthly
  full-coverage on-site supervision (SX-22.3) with the SX-22.4 checklist results. Append-only.
- ``spot_test_draws`` / ``spot_test_items`` / ``spot_test_results``: the yearly manual spot test of at least
  10 % of monitoring points (测管联动, SX-23). Append-only.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from envwatch.core.db import BigId, UtcDateTime, metadata

findings = Table(
    "findings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule", String(40), nullable=False, comment="the rule's clause ID, e.g. SX-18.3-24H"),
    Column("key", String(200), nullable=False, comment="the situation, stable across runs (rule-specific)"),
    Column("subject_kind", String(12), nullable=False, comment="enterprise|outlet|device|operator|agency"),
    Column("subject_id", Integer, nullable=False),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=True),
    Column("outlet_id", Integer, ForeignKey("outlets.id"), nullable=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=True),
    Column("region_code", String(12), nullable=True, comment="the subject's region (enterprise or agency)"),
    Column("period_start", UtcDateTime, nullable=True),
    Column("period_end", UtcDateTime, nullable=True),
    Column("severity", String(12), nullable=False, comment="violation | warning"),
    Column("message", Text, nullable=False),
    Column("evidence", JSON, nullable=False, comment="[{kind, ref, label}] links the finding rests on"),
    Column("state", String(12), nullable=False, comment="open | resolved | waived"),
    Column("state_reason", Text, nullable=False, default=""),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("rule", "key", name="uq_findings_rule_key"),
    Index("ix_findings_state", "state", "rule"),
    Index("ix_findings_enterprise", "enterprise_id"),
    Index("ix_findings_operator", "operator_id"),
    Index("ix_findings_agency", "agency_id"),
    Index("ix_findings_region", "region_code"),
)

finding_events = Table(
    "finding_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("finding_id", BigInteger, ForeignKey("findings.id"), nullable=False),
    Column("event", String(12), nullable=False, comment="opened|resolved|reopened|waived|unwaived"),
    Column("at", UtcDateTime, nullable=False),
    Column("from_state", String(12), nullable=True),
    Column("to_state", String(12), nullable=False),
    Column("reason", Text, nullable=False),
    Column("run_id", BigInteger, nullable=True, comment="the compliance run that caused it, if any"),
    Column("data", JSON, nullable=True, comment="message and evidence at the time of the event"),
    Column("recorded_by", String(100), nullable=False),
    Index("ix_finding_events_finding", "finding_id", "id"),
)

compliance_runs = Table(
    "compliance_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False, comment="the moment judged (--at)"),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True, comment="None while running (or if it died)"),
    Column("trigger", String(12), nullable=False, comment="schedule | demand"),
    Column("rules", JSON, nullable=False, comment="{rule: {found, opened, resolved, reopened, error}}"),
    Column("ok", Boolean, nullable=True),
    Column("run_by", String(100), nullable=False),
    Index("ix_compliance_runs_started", "started_at"),
)

operator_assessments = Table(
    "operator_assessments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("region_code", String(12), nullable=False, comment="the ranking's region ('' = all)"),
    Column("year", Integer, nullable=False),
    Column("quarter", Integer, nullable=False),
    Column("score", Numeric(6, 2), nullable=True, comment="None: nothing to assess"),
    Column("rank", Integer, nullable=True),
    Column("ranked", Integer, nullable=False, comment="operators ranked in that region and quarter"),
    Column("last_place", Boolean, nullable=False),
    Column("components", JSON, nullable=False, comment="each input's value, sub-score and weight"),
    Column("formula", JSON, nullable=False, comment="the weights and bounds used"),
    Column("published_by", String(100), nullable=False),
    Column("published_at", UtcDateTime, nullable=False),
    Index("ix_operator_assessments_quarter", "year", "quarter", "region_code"),
)

credit_events = Table(
    "credit_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column(
        "kind",
        String(16),
        nullable=False,
        comment="warning|penalty|bad_record|blacklisted|unblacklisted|note",
    ),
    Column("rule", String(40), nullable=True, comment="the clause it follows from (SX-32, SX-26 …)"),
    Column("reason", Text, nullable=False),
    Column("on", Date, nullable=False, comment="the day it takes effect"),
    Column("finding_id", BigInteger, ForeignKey("findings.id"), nullable=True),
    Column("assessment_id", BigInteger, ForeignKey("operator_assessments.id"), nullable=True),
    Column("source", String(8), nullable=False, comment="system | manual"),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_credit_events_operator", "operator_id", "id"),
)

supervision_plans = Table(
    "supervision_plans",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("region_code", String(12), nullable=False, comment="the city (4 digits, padded) or county"),
    Column("month", String(7), nullable=False, comment="YYYY-MM"),
    Column("population", Integer, nullable=False, comment="enterprises with monitored outlets then"),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_supervision_plans_month", "region_code", "month"),
)

supervision_plan_items = Table(
    "supervision_plan_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("plan_id", BigInteger, ForeignKey("supervision_plans.id"), nullable=False),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column("outlets", JSON, nullable=False, comment="the monitored outlet ids at plan time"),
    Index("ix_supervision_plan_items_plan", "plan_id"),
)

supervision_results = Table(
    "supervision_results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigInteger, ForeignKey("supervision_plan_items.id"), nullable=False),
    Column("visited_on", Date, nullable=False),
    Column("inspectors", Text, nullable=False),
    Column("checklist", JSON, nullable=False, comment="SX-22.4 item → ok | problem | na, with notes"),
    Column("outcome", String(12), nullable=False, comment="ok | problems"),
    Column("note", Text, nullable=False),
    Column("supersedes_id", BigInteger, ForeignKey("supervision_results.id"), nullable=True),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_supervision_results_item", "item_id", "id"),
)

spot_test_draws = Table(
    "spot_test_draws",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("region_code", String(12), nullable=False),
    Column("year", Integer, nullable=False),
    Column("seed", String(64), nullable=False, comment="redoes the same draw from the same population"),
    Column("share", Numeric(5, 2), nullable=False, comment="percent of monitoring points drawn"),
    Column("population", Integer, nullable=False),
    Column("drawn_by", String(100), nullable=False),
    Column("drawn_at", UtcDateTime, nullable=False),
    Index("ix_spot_test_draws_year", "region_code", "year"),
)

spot_test_items = Table(
    "spot_test_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("draw_id", BigInteger, ForeignKey("spot_test_draws.id"), nullable=False),
    Column("outlet_id", Integer, ForeignKey("outlets.id"), nullable=False),
    Index("ix_spot_test_items_draw", "draw_id"),
)

spot_test_results = Table(
    "spot_test_results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigInteger, ForeignKey("spot_test_items.id"), nullable=False),
    Column("tested_on", Date, nullable=False),
    Column("agency", Text, nullable=False, comment="who did the manual test"),
    Column("report_no", String(100), nullable=False),
    Column("values", JSON, nullable=False, comment="[{factor, manual, automatic, unit, pass}]"),
    Column("outcome", String(12), nullable=False, comment="pass | fail"),
    Column("note", Text, nullable=False),
    Column("supersedes_id", BigInteger, ForeignKey("spot_test_results.id"), nullable=True),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_spot_test_results_item", "item_id", "id"),
)

APPEND_ONLY = (
    "finding_events",
    "operator_assessments",
    "credit_events",
    "supervision_plans",
    "supervision_plan_items",
    "supervision_results",
    "spot_test_draws",
    "spot_test_items",
    "spot_test_results",
)
