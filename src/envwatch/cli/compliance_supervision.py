"""``envwatch compliance plan`` / ``spot-test``: supervision plans (SX-22.3) and spot tests (SX-23). Not written yet."""

from __future__ import annotations

import typer

plan_app = typer.Typer(
    help="the city's monthly full-coverage supervision plan (SX-22.3)", no_args_is_help=True
)
spot_test_app = typer.Typer(
    help="the yearly manual spot test of ≥ 10 % of monitoring points (SX-23)", no_args_is_help=True
)
