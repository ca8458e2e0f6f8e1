"""``envwatch compliance``: the compliance engine (合规判定, issue 9) from the command line.

The command line reads and writes as the machine's administrator (no scope).
"""

from __future__ import annotations

import typer

from envwatch.cli.certification import pack_app
from envwatch.cli.compliance_assessment import assessment_app, credit_app
from envwatch.cli.compliance_check import register as register_checks
from envwatch.cli.compliance_supervision import plan_app, spot_test_app

compliance_app = typer.Typer(
    help="compliance rules, findings, operator assessment, supervision plans, certification packs",
    no_args_is_help=True,
)
register_checks(compliance_app)
compliance_app.add_typer(assessment_app, name="assess")
compliance_app.add_typer(credit_app, name="credit")
compliance_app.add_typer(plan_app, name="plan")
compliance_app.add_typer(spot_test_app, name="spot-test")
compliance_app.add_typer(pack_app, name="pack")
