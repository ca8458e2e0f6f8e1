"""``envwatch compliance check | rules | findings | finding | waive | unwaive`` (合规检查 from the command line).

- ``check [--at DATETIME] [--rule ID …] [--json]``: runs the rules (every enabled one, or those named) as of
  ``--at`` (ISO 8601 with an offset, or China time without one; default now), one progress line per rule,
  then the counts per rule and the errors. Exit code 0 when every rule ran, 1 when one failed (its error is
  printed and recorded on the run), 2 for bad input (an unknown or switched-off rule, a future moment, a bad
  parameter override);
- ``rules [--json]``: every rule with its clause, pack, whether it is on, and its parameters (effective value,
  default, overridden);
- ``findings [--state open] [--rule ID] [--enterprise ID] [--operator ID] [--json] [--limit N]``: the stored
  findings, newest last seen first, with the counts per state;
- ``finding ID [--json]``: one finding with its history;
- ``waive ID --reason TEXT [--by NAME]`` / ``unwaive ID --reason TEXT [--by NAME]``: the regulator's decision,
  recorded with who (default: the machine's administrator, ``cli``).

The command line reads and writes as the machine's administrator (no scope), on the store of ``--data-dir``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, Json, _fail, _prepare, _settings, china_time, print_json

RuleOpt = Annotated[
    list[str] | None, typer.Option("--rule", help="a rule ID (repeatable); default every enabled rule")
]
Reason = Annotated[str, typer.Option("--reason", help="why (豁免理由), required")]
By = Annotated[str, typer.Option("--by", help="who decides (recorded in the history)")]


def rule_set() -> Any:
    """The rules the commands judge with (tests replace this function to use rules of their own)."""
    from envwatch.compliance.packs import RULES

    return RULES


def parse_at(text: str | None) -> datetime | None:
    """``--at``: ISO 8601 with an offset, or without one as China time; exits 2 when unreadable."""
    from datetime import UTC

    from envwatch.core.clock import CHINA_TZ

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(
            f"--at {text!r} is not an ISO 8601 time such as 2026-10-20T10:00:00+08:00 (no offset = China time)"
        )
        return None  # pragma: no cover - _fail exits
    return (moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TZ)).astimezone(UTC)


def _counts(outcome: dict[str, Any]) -> str:
    if "error" in outcome:
        return f"ERROR {outcome['error']}"
    return (
        f"found {outcome['found']}, opened {outcome['opened']}, reopened {outcome['reopened']}, "
        f"resolved {outcome['resolved']}, still open {outcome['still_open']}, waived {outcome['waived_seen']}"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``envwatch compliance`` group."""
    app.command("check")(check)
    app.command("rules")(rules)
    app.command("findings")(findings_list)
    app.command("finding")(finding)
    app.command("waive")(waive_cmd)
    app.command("unwaive")(unwaive_cmd)


def check(
    at: Annotated[
        str | None, typer.Option("--at", help="the moment judged (ISO 8601; no offset = China time)")
    ] = None,
    rule: RuleOpt = None,
    json_: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Run the compliance rules and store their findings (合规检查)."""
    from envwatch.compliance.run import run_rules
    from envwatch.core.clock import to_china
    from envwatch.core.errors import InvalidInput

    moment = parse_at(at)
    settings = _settings(data_dir)
    engine = _prepare(settings)

    def progress(r: Any, outcome: dict[str, Any]) -> None:
        if not json_:
            typer.echo(f"{r.id:<18} {_counts(outcome)}", err="error" in outcome)

    try:
        result = run_rules(
            engine,
            settings,
            at=moment,
            rule_ids=rule or None,
            trigger="demand",
            by="cli",
            rule_set=rule_set(),
            progress=progress,
        )
    except InvalidInput as exc:
        _fail(exc.message)
        return  # pragma: no cover - _fail exits
    finally:
        engine.dispose()
    failed = sorted(r for r, o in result.rules.items() if "error" in o)
    if json_:
        print_json(
            {
                "run_id": result.run_id,
                "at": result.at,
                "ok": result.ok,
                "open_findings": result.open_findings,
                "rules": result.rules,
            }
        )
    else:
        totals = {
            k: sum(o.get(k, 0) for o in result.rules.values()) for k in ("opened", "reopened", "resolved")
        }
        typer.echo(
            f"run {result.run_id} as of {to_china(result.at):%Y-%m-%d %H:%M:%S} (China time): {len(result.rules)} rules, "
            f"{totals['opened']} opened, {totals['reopened']} reopened, {totals['resolved']} resolved, "
            f"{result.open_findings} open"
        )
        if failed:
            typer.secho(f"failed: {', '.join(failed)}", fg=typer.colors.RED, err=True)
    if failed:
        raise typer.Exit(1)


def rules(json_: Json = False, data_dir: DataDir = None) -> None:
    """Every rule with its clause, pack, state and parameters."""
    from envwatch.web.api.compliance_findings import rules_out

    out = rules_out(rule_set(), _settings(data_dir))
    if json_:
        print_json({"rules": out})
        return
    for r in out:
        state = "on" if r["enabled"] else "OFF"
        typer.echo(f"{r['id']:<18} [{r['pack']}] {state:<3} {r['title']} ({r['title_zh']})")
        typer.echo(f"{'':<18} inputs: {r['inputs']}")
        for p in r["params"]:
            note = f" (set; default {p['default']})" if p["overridden"] else ""
            typer.echo(f"{'':<18} {p['name']} = {p['value']}{note}: {p['description']}")
        if r["error"]:
            typer.secho(f"{'':<18} {r['error']}", fg=typer.colors.RED)


def _store(data_dir: Any, action: Any) -> Any:
    """``action(conn)`` in a transaction; an EnvwatchError as a clean exit 2."""
    from envwatch.core.errors import EnvwatchError

    engine = _prepare(_settings(data_dir))
    try:
        with engine.begin() as conn:
            return action(conn)
    except EnvwatchError as exc:
        _fail(exc.message)
    finally:
        engine.dispose()


def findings_list(
    state: Annotated[
        str | None, typer.Option("--state", help="open | resolved | waived (default: all)")
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="one rule ID")] = None,
    enterprise: Annotated[int | None, typer.Option("--enterprise", help="enterprise id")] = None,
    operator: Annotated[int | None, typer.Option("--operator", help="operator id")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100000, help="at most this many")] = 100,
    json_: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Stored findings, newest last seen first, with the counts per state."""
    from envwatch.web.api.compliance_findings import FindingFilter, finding_out, select_findings

    flt = FindingFilter(
        rules=(rule,) if rule else (),
        states=(state,) if state else (),
        enterprise_id=enterprise,
        operator_id=operator,
    )
    page = _store(data_dir, lambda conn: select_findings(conn, flt, None, limit=limit))
    if json_:
        print_json(
            {
                "total": page.total,
                "counts": {"by_rule": page.by_rule, "by_state": page.by_state},
                "rows": [finding_out(r) for r in page.rows],
            }
        )
        return
    for r in page.rows:
        typer.echo(
            f"{r['id']:>6} {r['rule']:<18} {r['state']:<8} {r['subject_kind']} {r['subject_id']:<6} "
            f"{china_time(r['last_seen'])}  {r['message']}"
        )
    counts = ", ".join(f"{n} {s}" for s, n in page.by_state.items())
    typer.echo(
        f"{page.total} finding(s): {counts}" + (f" (first {limit} shown)" if page.total > limit else "")
    )


def finding(
    finding_id: Annotated[int, typer.Argument(help="the finding's id")],
    json_: Json = False,
    data_dir: DataDir = None,
) -> None:
    """One finding with its history."""
    from envwatch.compliance.findings import finding_history
    from envwatch.web.api.compliance_findings import visible_finding

    def read(conn: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return visible_finding(conn, None, finding_id), finding_history(conn, finding_id)

    row, history = _store(data_dir, read)
    if json_:
        print_json(row | {"history": history})
        return
    _show(row, history)


def _show(row: dict[str, Any], history: list[dict[str, Any]]) -> None:
    typer.echo(f"finding {row['id']}  {row['rule']}  {row['state']}  ({row['severity']})")
    typer.echo(f"  {row['message']}")
    named = ", ".join(
        f"{k} {row[f'{k}_id']}"
        for k in ("device", "outlet", "enterprise", "operator", "agency")
        if row[f"{k}_id"] is not None
    )
    typer.echo(f"  about: {row['subject_kind']} {row['subject_id']}" + (f" ({named})" if named else ""))
    if row["period_start"] or row["period_end"]:
        typer.echo(f"  period: {china_time(row['period_start'])} – {china_time(row['period_end'])}")
    typer.echo(f"  first seen {china_time(row['first_seen'])}, last seen {china_time(row['last_seen'])}")
    if row["state_reason"]:
        typer.echo(f"  reason: {row['state_reason']}")
    for link in row["evidence"] or ():
        typer.echo(f"  evidence: {link['kind']} {link['ref']} {link.get('label', '')}".rstrip())
    for e in history:
        run = f" (run {e['run_id']})" if e["run_id"] else ""
        typer.echo(f"  {china_time(e['at'])}  {e['event']:<9} by {e['recorded_by']}{run}: {e['reason']}")


def _decide(finding_id: int, reason: str, by: str, waived: bool, data_dir: Any) -> None:
    from envwatch.compliance.findings import finding_history, unwaive, waive
    from envwatch.core.clock import utcnow

    def act(conn: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        row = (waive if waived else unwaive)(conn, finding_id, reason, by=by, now=utcnow())
        return row, finding_history(conn, finding_id)

    row, history = _store(data_dir, act)
    _show(row, history)


def waive_cmd(
    finding_id: Annotated[int, typer.Argument(help="the finding's id")],
    reason: Reason,
    by: By = "cli",
    data_dir: DataDir = None,
) -> None:
    """Waive a finding, with a reason (it stays waived while the rule still finds it)."""
    _decide(finding_id, reason, by, True, data_dir)


def unwaive_cmd(
    finding_id: Annotated[int, typer.Argument(help="the finding's id")],
    reason: Reason,
    by: By = "cli",
    data_dir: DataDir = None,
) -> None:
    """Withdraw a waiver, with a reason: the finding is open again."""
    _decide(finding_id, reason, by, False, data_dir)
