"""``envwatch compliance plan`` / ``spot-test``: supervision plans (SX-22.3/22.4) and spot tests (SX-23).

- ``plan make --region 3301 --month 2026-11 [--by NAME]``: the month's full-coverage plan of a city or
  county (made now, a supplement for enterprises that came since, or the one made before);
- ``plan show ID [--json]``, ``plan list [--region R] [--month YYYY-MM] [--json]``;
- ``plan record PLAN ITEM --visited DAY --inspectors TEXT --item KEY=STATE[:NOTE] … [--others STATE]
  [--note TEXT] [--supersedes RESULT]``: the SX-22.4 checklist result of one enterprise (every item not
  named takes ``--others`` when given);
- ``spot-test draw --region 3301 --year 2026 [--by NAME]``, ``spot-test show ID``, ``spot-test list``;
- ``spot-test record DRAW ITEM --tested DAY --agency TEXT --report NO --value FACTOR=MANUAL[:AUTOMATIC[:UNIT]]
  … [--note] [--supersedes RESULT]`` (no automatic value: the platform's daily value of that day).

The command line acts as the machine's administrator (no scope).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, Json, _fail, china_time, print_json, read_store, write_store

plan_app = typer.Typer(
    help="the city's monthly full-coverage supervision plan (SX-22.3)", no_args_is_help=True
)
spot_test_app = typer.Typer(
    help="the yearly manual spot test of ≥ 10 % of monitoring points (SX-23)", no_args_is_help=True
)

By = Annotated[str, typer.Option("--by", help="who does it (recorded with it)")]
# a result's options, alike for a plan's enterprise and a drawn point (results are only added: SX-22.4, SX-23)
Note = Annotated[str, typer.Option("--note")]
Supersedes = Annotated[int | None, typer.Option("--supersedes", help="the result this corrects")]


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {text!r} is not a day YYYY-MM-DD")
        raise  # unreachable: _fail exits


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value} %"


def _made(made: dict[str, Any], as_json: bool, now: str, before: str, show: Callable[[Any], None]) -> None:
    """What ``plan make`` / ``spot-test draw`` print: the plan or draw, saying whether it is new or the one
    made before (making is idempotent: SX-22.3, SX-23)."""
    if as_json:
        print_json(made)
        return
    typer.echo(before if made["already"] else now)
    show(made)


def _listed(
    data_dir: Any,
    lister: Callable[[Any, str | None], list[dict[str, Any]]],
    region: str | None,
    as_json: bool,
    none: str,
    line: Callable[[dict[str, Any]], str],
) -> None:
    """What ``plan list`` / ``spot-test list`` print: ``lister(conn, region prefix)``'s rows, one ``line``
    each (``none`` when there are none), or them as JSON."""
    from envwatch.registry.service import region_prefix

    rows = read_store(data_dir, lambda conn: lister(conn, region_prefix(region) if region else None))
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(none)
    for row in rows:
        typer.echo(line(row))


# ---- plans ----


def _print_plan(plan: dict[str, Any]) -> None:
    cov = plan["coverage"]
    kind = " (supplementary)" if plan["supplementary"] else ""
    typer.echo(
        f"plan {plan['id']}{kind}: region {plan['region_code']}, {plan['month']}, by {plan['created_by']} at "
        f"{china_time(plan['created_at'])}; {cov['items']} enterprises of {plan['population']} with "
        f"monitored outlets; visited {cov['done']} ({_pct(cov['percent'])}), {cov['problems']} with problems"
    )
    if plan["related"]:
        typer.echo("other plans of the month: " + ", ".join(str(i) for i in plan["related"]))
    for item in plan["items"]:
        outlets = ", ".join(o["code"] for o in item["outlets"])
        latest = item["latest"]
        state = "outstanding" if latest is None else f"{latest['outcome']} on {latest['visited_on']}"
        typer.echo(f"  item {item['id']}  {item['enterprise']} ({item['region_code']})  [{outlets}]  {state}")
        if latest is not None:
            for key, answer in latest["checklist"].items():
                if answer["state"] == "problem":
                    typer.echo(f"      problem {key}: {answer['note']}")


@plan_app.command("make")
def plan_make(
    region: Annotated[str, typer.Option("--region", help="a city (4 digits) or county (6)")],
    month: Annotated[str, typer.Option("--month", help="the China month, YYYY-MM")],
    by: By = "cli",
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Make the month's full-coverage plan of a region (or show the one made before)."""
    from envwatch.compliance.supervision import make_plan
    from envwatch.core.clock import utcnow

    made = write_store(data_dir, lambda conn, _s: make_plan(conn, region, month, by, utcnow()))
    _made(made, as_json, "made now", "made before", _print_plan)


@plan_app.command("show")
def plan_show(plan_id: int, as_json: Json = False, data_dir: DataDir = None) -> None:
    """One plan: its enterprises, their latest result, coverage."""
    from envwatch.compliance.supervision import get_plan

    plan = read_store(data_dir, lambda conn: get_plan(conn, plan_id))
    if as_json:
        print_json(plan)
    else:
        _print_plan(plan)


@plan_app.command("list")
def plan_list(
    region: Annotated[str | None, typer.Option("--region", help="plans within this region")] = None,
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM")] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """The plans, newest month first, with their coverage."""
    from envwatch.compliance.supervision import list_plans

    _listed(
        data_dir, lambda conn, prefix: list_plans(conn, prefix, month=month), region, as_json,
        "no supervision plans",
        lambda p: f"plan {p['id']}  {p['region_code']}  {p['month']}  visited {p['done']} of {p['items']} "
        f"({_pct(p['percent'])})  {p['problems']} with problems  (by {p['created_by']})",
    )  # fmt: skip


def _answers(items: list[str], others: str | None) -> dict[str, Any]:
    from envwatch.compliance.supervision import Answer
    from envwatch.compliance.supervision_checklist import KEYS

    answers: dict[str, Any] = {}
    for given in items:
        key, sep, rest = given.partition("=")
        if not sep:
            _fail(f"--item {given!r}: write KEY=STATE or KEY=STATE:NOTE (keys: {', '.join(KEYS)})")
        state, _, note = rest.partition(":")
        answers[key.strip()] = Answer(state.strip(), note.strip())
    if others is not None:
        for key in KEYS:
            answers.setdefault(key, Answer(others))
    return answers


@plan_app.command("record")
def plan_record(
    plan_id: int,
    item_id: int,
    visited: Annotated[str, typer.Option("--visited", help="the China day of the visit, YYYY-MM-DD")],
    inspectors: Annotated[str, typer.Option("--inspectors", help="who inspected")],
    item: Annotated[list[str], typer.Option("--item", help="KEY=ok|problem|na[:NOTE], repeatable")] = [],  # noqa: B006
    others: Annotated[str | None, typer.Option("--others", help="the state of every item not named")] = None,
    note: Note = "",
    supersedes: Supersedes = None,
    by: By = "cli",
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Record the SX-22.4 checklist result of one enterprise of a plan."""
    from envwatch.compliance import supervision as sv
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import NotFound

    day = _day("--visited", visited)
    answers = _answers(item, others)

    def action(conn: Any, _settings: Any) -> Any:
        if sv.item_row(conn, item_id)["plan_id"] != plan_id:
            raise NotFound(f"no item {item_id} in supervision plan {plan_id}")
        return sv.record_result(
            conn, item_id, visited_on=day, inspectors=inspectors, checklist=answers, note=note,
            supersedes_id=supersedes, by=by, now=utcnow(),
        )  # fmt: skip

    row = write_store(data_dir, action)
    if as_json:
        print_json(row)
        return
    typer.echo(f"result {row['id']} of item {item_id}: {row['outcome']} (visited {row['visited_on']})")


# ---- spot tests ----


def _print_draw(d: dict[str, Any]) -> None:
    cov = d["coverage"]
    typer.echo(
        f"draw {d['id']}: region {d['region_code']}, {d['year']}, by {d['drawn_by']} at {china_time(d['drawn_at'])}; "
        f"{cov['items']} of {d['population']} monitoring points ({d['share']} % asked); tested {cov['tested']} "
        f"({_pct(cov['percent'])}), {_pct(cov['population_share'])} of the population, {cov['failed']} failed"
    )
    typer.echo(f"seed {d['seed']}")
    for item in d["items"]:
        latest = item["latest"]
        state = "not tested" if latest is None else f"{latest['outcome']} on {latest['tested_on']}"
        typer.echo(
            f"  item {item['id']}  {item['enterprise']} {item['outlet_code']} (outlet {item['outlet_id']})  {state}"
        )


@spot_test_app.command("draw")
def spot_draw(
    region: Annotated[str, typer.Option("--region", help="a city (4 digits) or county (6)")],
    year: Annotated[int, typer.Option("--year", help="the current year or the next")],
    by: By = "cli",
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Draw the year's spot-test list of a region (or show the one drawn before)."""
    from envwatch.compliance.spot_tests import draw
    from envwatch.core.clock import utcnow

    made = write_store(data_dir, lambda conn, settings: draw(conn, region, year, settings, by, utcnow()))
    _made(made, as_json, "drawn now", "drawn before", _print_draw)


@spot_test_app.command("show")
def spot_show(draw_id: int, as_json: Json = False, data_dir: DataDir = None) -> None:
    """One draw: its points, their latest result, coverage, and whether the seed redoes it."""
    from envwatch.compliance.spot_tests import get_draw, redo

    def reader(conn: Any) -> Any:
        again = redo(conn, draw_id)
        return get_draw(conn, draw_id) | {
            "redo": {"same": again.same, "ids": again.ids, "population": again.population}
        }

    d = read_store(data_dir, reader)
    if as_json:
        print_json(d)
        return
    _print_draw(d)
    typer.echo(
        "redoing the draw gives the same points"
        if d["redo"]["same"]
        else "redoing the draw gives OTHER points"
    )


@spot_test_app.command("list")
def spot_list(
    region: Annotated[str | None, typer.Option("--region", help="draws within this region")] = None,
    year: Annotated[int | None, typer.Option("--year")] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """The draws, newest year first, with their coverage."""
    from envwatch.compliance.spot_tests import list_draws

    _listed(
        data_dir, lambda conn, prefix: list_draws(conn, prefix, year=year), region, as_json,
        "no spot-test draws",
        lambda d: f"draw {d['id']}  {d['region_code']}  {d['year']}  tested {d['tested']} of {d['items']} "
        f"drawn, {_pct(d['population_share'])} of {d['population']} points (target {d['share']} %)  "
        f"{d['failed']} failed",
    )  # fmt: skip


def _values(given: list[str]) -> list[Any]:
    from envwatch.compliance.spot_tests import Value, decimal_of
    from envwatch.core.errors import InvalidInput

    out = []
    for text in given:
        factor, sep, rest = text.partition("=")
        if not sep:
            _fail(f"--value {text!r}: write FACTOR=MANUAL[:AUTOMATIC[:UNIT]], e.g. a21026=13.0:12.5:mg/m3")
        manual, _, tail = rest.partition(":")
        automatic, _, unit = tail.partition(":")
        try:
            out.append(
                Value(
                    factor.strip(),
                    decimal_of(manual, f"the manual value of {factor}"),
                    decimal_of(automatic, f"the automatic value of {factor}") if automatic.strip() else None,
                    unit.strip(),
                )
            )
        except InvalidInput as exc:
            _fail(exc.message)
    return out


@spot_test_app.command("record")
def spot_record(
    draw_id: int,
    item_id: int,
    tested: Annotated[str, typer.Option("--tested", help="the China day of the test, YYYY-MM-DD")],
    agency: Annotated[str, typer.Option("--agency", help="who did the manual test")],
    report: Annotated[str, typer.Option("--report", help="the test report's number")],
    value: Annotated[
        list[str], typer.Option("--value", help="FACTOR=MANUAL[:AUTOMATIC[:UNIT]], repeatable")
    ] = [],  # noqa: B006
    note: Note = "",
    supersedes: Supersedes = None,
    by: By = "cli",
    as_json: Json = False,
    data_dir: DataDir = None,
) -> None:
    """Record the manual test of one drawn point (automatic value left out: the platform's daily value)."""
    from envwatch.compliance import spot_tests as st
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import NotFound

    day = _day("--tested", tested)
    values = _values(value)

    def action(conn: Any, settings: Any) -> Any:
        if st.item_row(conn, item_id)["draw_id"] != draw_id:
            raise NotFound(f"no item {item_id} in spot-test draw {draw_id}")
        return st.record_result(
            conn, settings, item_id, tested_on=day, agency=agency, report_no=report, values=values,
            note=note, supersedes_id=supersedes, by=by, now=utcnow(),
        )  # fmt: skip

    row = write_store(data_dir, action)
    if as_json:
        print_json(row)
        return
    typer.echo(f"result {row['id']} of item {item_id}: {row['outcome']} (tested {row['tested_on']})")
    for v in row["values"]:
        error = "—" if v["relative_error_pct"] is None else f"{v['relative_error_pct']} %"
        typer.echo(
            f"  {v['factor']}: manual {v['manual']}, automatic {v['automatic']} ({v['automatic_source']}) "
            f"{v['unit']}, error {error}: {'pass' if v['pass'] else 'FAIL'}"
        )
