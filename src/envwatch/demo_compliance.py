"""The compliance part of the demo world (合规演示数据), so that ``make demo`` opens /compliance with content.

Runs last (after ``demo_evidence``): by then the demo world holds the O&M story of ``demo_om`` (a fault past
its 24 h backup clock, a failed inspection item, an expired standard solution, a ticket awaiting an answer…),
the sampling plans and videos of ``demo_sampling`` and ``demo_evidence``. This module only acts through the
compliance services, as a regulator would:

- every rule is run once as of ``now`` (what ``serve``'s daily run would do at 02:00), so /compliance/findings
  lists what the demo world breaks;
- 太原 (1401)'s supervision plan for this month is made (every enterprise with a monitored outlet) and the
  city's spot-test list of this year is drawn (SX-22.3, SX-23);

The quarterly ranking (/compliance/operators) is computed live from the same data; nothing is published, as
the demo platform went live only weeks ago and has no complete quarter. Periodic reports are left to the
schedule ``serve`` runs (``reports.periodic_schedule``).

Idempotent: rules re-run only move ``last_seen``; the plan and the draw answer the existing ones.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from envwatch.compliance import spot_tests, supervision
from envwatch.compliance.run import run_rules
from envwatch.core.clock import to_china
from envwatch.core.settings import Settings

REGULATOR = "太原市生态环境局"  # the demo city regulator (demo.demo_users: ty_regulator)
CITY = "1401"


def install_compliance(engine: Engine, settings: Settings, now: datetime) -> list[str]:
    """Run the rules, make this month's plan and this year's spot-test list; what happened, as lines."""
    result = run_rules(engine, settings, at=now, trigger="demand", by="demo")
    found = {rule: o["found"] for rule, o in result.rules.items() if o.get("found")}
    failed = [rule for rule, o in result.rules.items() if "error" in o]
    lines = [
        f"compliance run {result.run_id}: {sum(found.values())} findings from {len(found)} of "
        f"{len(result.rules)} rules"
        + (f" ({', '.join(f'{r} {n}' for r, n in sorted(found.items()))})" if found else "")
    ]
    if failed:
        lines.append(f"rules that failed (see the log): {', '.join(failed)}")
    month = f"{to_china(now):%Y-%m}"
    with engine.begin() as conn:
        plan = supervision.make_plan(conn, CITY, month, REGULATOR, now)
        draw = spot_tests.draw(conn, CITY, to_china(now).year, settings, REGULATOR, now)
    lines.append(
        f"supervision plan {plan['id']} of {CITY} for {month}: {len(plan.get('items', []))} enterprises"
    )
    lines.append(
        f"spot-test list {draw['id']} of {CITY} for {to_china(now).year}: "
        f"{len(draw.get('items', []))} of {draw['population']} monitoring points"
    )
    return lines
