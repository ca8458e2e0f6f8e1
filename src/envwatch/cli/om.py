"""``envwatch om``: operations and maintenance (运维, issue 6), one sub-command group per area."""

from __future__ import annotations

import typer

from envwatch.cli.om_faults import faults_app
from envwatch.cli.om_ledger import ledger_app
from envwatch.cli.om_records import records_app
from envwatch.cli.om_reports import reports_app
from envwatch.cli.om_staff import staff_app
from envwatch.cli.om_tickets import tickets_app

om_app = typer.Typer(
    help="operations and maintenance (运维): field records, faults, tickets, staff, ledger",
    no_args_is_help=True,
)
om_app.add_typer(records_app, name="records")
om_app.add_typer(faults_app, name="faults")
om_app.add_typer(tickets_app, name="tickets")
om_app.add_typer(staff_app, name="staff")
om_app.add_typer(ledger_app, name="ledger")
om_app.add_typer(reports_app, name="reports")
