"""``envwatch om staff``: staff (运维人员), certificates, trainings and results (CS-4.5, WZ-A2-5).

The same store functions as the API and the pages (``operations.staff``, ``operations.trainings``), with
the administrator's reach (every operator). A linked web account is checked like the API checks it
(``web.api.om_staff.require_staff_account``). Errors print the store's message and exit with code 2.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer

from envwatch.cli.common import DataDir, _fail, _prepare, _settings

staff_app = typer.Typer(help="staff (运维人员), certificates, trainings and results", no_args_is_help=True)

OperatorOpt = Annotated[int | None, typer.Option("--operator-id", help="only this operator (default: all)")]
FormatOpt = Annotated[str, typer.Option("--format", help="table | json")]


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{name} must be a date such as 2026-11-21, not {text!r}")
        raise  # pragma: no cover - _fail exits


def _format(value: str) -> str:
    if value not in ("table", "json"):
        _fail(f"--format must be table or json, not {value!r}")
    return value


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _today() -> date:
    from envwatch.core.clock import to_china, utcnow

    return to_china(utcnow()).date()


@staff_app.command("list")
def staff_list(
    operator_id: OperatorOpt = None,
    active: Annotated[
        bool | None, typer.Option("--active/--left", help="only people working there / who left")
    ] = None,
    position: Annotated[
        str | None, typer.Option(help="field_engineer | sampler | auditor | manager | other")
    ] = None,
    certificate: Annotated[str | None, typer.Option(help="valid | expiring | expired | none")] = None,
    format_: FormatOpt = "table",
    data_dir: DataDir = None,
) -> None:
    """Personnel files by name, with the certificate status today (China date)."""
    from envwatch.core.errors import InvalidInput
    from envwatch.operations.staff import list_staff

    _format(format_)
    settings = _settings(data_dir)
    engine = _prepare(settings)
    try:
        with engine.connect() as conn:
            rows = list_staff(
                conn,
                operator_id,
                today=_today(),
                warn_days=settings.om_certificate_warn_days,
                active=active,
                position=position,
                certificate=certificate,
            )
    except InvalidInput as exc:
        _fail(exc.message)
        return
    if format_ == "json":
        _json(rows)
        return
    for r in rows:
        cert = r["certificate"]
        until = f" until {cert['valid_until']}" if cert else ""
        left = "" if r["active"] else " (left)"
        typer.echo(
            f"{r['id']:>5}  op {r['operator_id']:<4} {r['name']}{left}  {r['position']}  {r['phone']}  "
            f"certificate {r['certificate_status']}{until}"
        )
    typer.echo(f"{len(rows)} staff")


@staff_app.command("add")
def staff_add(
    operator_id: Annotated[int, typer.Option("--operator-id", help="the operator the person works for")],
    name: Annotated[str, typer.Option(help="the person's name")],
    position: Annotated[str, typer.Option(help="field_engineer | sampler | auditor | manager | other")],
    phone: Annotated[str, typer.Option(help="digits, spaces and + - ( )")],
    username: Annotated[
        str | None, typer.Option(help="an operator / field_staff / auditor account of the same operator")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Add a personnel file."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import Conflict, InvalidInput
    from envwatch.operations.staff import add_staff
    from envwatch.web.api.om_staff import require_staff_account

    engine = _prepare(_settings(data_dir))
    try:
        with engine.begin() as conn:
            require_staff_account(conn, username, operator_id)
            row = add_staff(
                conn,
                operator_id=operator_id,
                name=name,
                position=position,
                phone=phone,
                username=username,
                now=utcnow(),
            )
    except (InvalidInput, Conflict) as exc:
        _fail(exc.message)
        return
    typer.echo(f"staff {row['id']}: {row['name']} ({row['position']}) at operator {row['operator_id']}")


@staff_app.command("certificate")
def staff_certificate(
    staff_id: Annotated[int, typer.Argument(help="the staff member")],
    kind: Annotated[str, typer.Option(help="e.g. 自动监测运维上岗证（废气）")],
    number: Annotated[str, typer.Option(help="the certificate number")],
    issuer: Annotated[str, typer.Option(help="who issued it")],
    issued_on: Annotated[str, typer.Option("--issued-on", help="YYYY-MM-DD, not after today")],
    valid_until: Annotated[str, typer.Option("--valid-until", help="the last valid day, YYYY-MM-DD")],
    by: Annotated[str, typer.Option("--by", help="who records it")] = "cli",
    data_dir: DataDir = None,
) -> None:
    """Record a certificate of a staff member (a renewal is another certificate)."""
    from envwatch.core.clock import utcnow
    from envwatch.core.errors import Conflict, InvalidInput, NotFound
    from envwatch.operations.staff import add_certificate

    first, last = _day("--issued-on", issued_on), _day("--valid-until", valid_until)
    engine = _prepare(_settings(data_dir))
    try:
        with engine.begin() as conn:
            row = add_certificate(
                conn, staff_id, kind=kind, number=number, issuer=issuer, issued_on=first,
                valid_until=last, recorded_by=by, now=utcnow(),
            )  # fmt: skip
    except (InvalidInput, Conflict, NotFound) as exc:
        _fail(exc.message)
        return
    typer.echo(
        f"certificate {row['id']} ({row['number']}) of staff {staff_id}: valid until {row['valid_until']}"
    )


@staff_app.command("expiring")
def staff_expiring(
    operator_id: OperatorOpt = None,
    warn_days: Annotated[
        int | None, typer.Option("--warn-days", min=0, help="default: ENVWATCH_OM_CERTIFICATE_WARN_DAYS")
    ] = None,
    format_: FormatOpt = "table",
    data_dir: DataDir = None,
) -> None:
    """Certificates of active people valid today whose last valid day is within the warning window."""
    from envwatch.operations.staff import expiring_certificates

    _format(format_)
    settings = _settings(data_dir)
    days = settings.om_certificate_warn_days if warn_days is None else warn_days
    engine = _prepare(settings)
    with engine.connect() as conn:
        rows = expiring_certificates(conn, operator_id, _today(), days)
    if format_ == "json":
        _json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['valid_until']}  ({r['days_left']} days)  staff {r['staff_id']} {r['name']}  "
            f"{r['kind']} {r['number']}"
        )
    typer.echo(f"{len(rows)} certificates to renew within {days} days")


def _coverage_out(found: Any, operator_id: int, format_: str, head: str) -> None:
    from envwatch.web.api.om_staff import coverage_out

    if format_ == "json":
        _json(coverage_out(found, operator_id))  # the API's answer
        return
    typer.echo(head)
    for p in found.people:
        result = p.result
        detail = f"{result['score']} on {result['tested_on']}" if result else "not tested"
        typer.echo(
            f"  {'passed' if p.passed else 'NOT passed':<10}  staff {p.staff_id} {p.name} ({p.position})  {detail}"
        )
    percent = "no one concerned" if found.percent is None else f"{found.percent} %"
    typer.echo(f"{found.passed} of {found.total} passed ({percent})")


@staff_app.command("quarterly")
def staff_quarterly(
    operator_id: Annotated[int, typer.Option("--operator-id", help="the operator")],
    year: Annotated[int, typer.Option(help="e.g. 2026")],
    quarter: Annotated[int, typer.Option(help="1-4")],
    format_: FormatOpt = "table",
    data_dir: DataDir = None,
) -> None:
    """CS-4.5: every active staff member and whether they passed a quarterly re-training held in the quarter."""
    from envwatch.core.errors import InvalidInput
    from envwatch.operations.trainings import quarterly_status

    _format(format_)
    engine = _prepare(_settings(data_dir))
    try:
        with engine.connect() as conn:
            found = quarterly_status(conn, operator_id, year, quarter)
    except InvalidInput as exc:
        _fail(exc.message)
        return
    held = ", ".join(f"{t['title']} ({t['held_on']})" for t in found.trainings) or "none held"
    _coverage_out(
        found,
        operator_id,
        format_,
        f"operator {operator_id}, Q{quarter} {year}: quarterly re-training {held}",
    )


@staff_app.command("sampling-label")
def staff_sampling_label(
    operator_id: Annotated[int, typer.Option("--operator-id", help="the operator")],
    format_: FormatOpt = "table",
    data_dir: DataDir = None,
) -> None:
    """WZ-A2-5: every active sampler and whether they passed a sample-label system training (100 % wanted)."""
    from envwatch.operations.trainings import sampling_label_status

    _format(format_)
    engine = _prepare(_settings(data_dir))
    with engine.connect() as conn:
        found = sampling_label_status(conn, operator_id)
    _coverage_out(
        found, operator_id, format_, f"operator {operator_id}: samplers trained on the sample-label system"
    )
