"""``envwatch users add`` and ``envwatch users list`` (issue 4)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from envwatch.cli import app

runner = CliRunner()


def test_users_add_and_list(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    r = runner.invoke(
        app,
        [
            "users",
            "add",
            "Zhang.San",
            "--role",
            "regulator",
            "--region-code",
            "3701",
            "--password-stdin",
            *data,
        ],
        input="a long enough password\n",
    )
    assert r.exit_code == 0, r.output
    assert "user zhang.san created (id 1, role regulator)" in r.output
    r = runner.invoke(
        app,
        ["users", "add", "bad", "--role", "auditor", "--operator-id", "1", "--password-stdin", *data],
        input="a long enough password\n",
    )
    assert r.exit_code == 2 and "needs period_from" in r.output
    r = runner.invoke(
        app, ["users", "add", "short", "--role", "admin", "--password-stdin", *data], input="tiny\n"
    )
    assert r.exit_code == 2 and "too short" in r.output
    r = runner.invoke(app, ["users", "list", *data])
    assert r.exit_code == 0
    assert r.output.splitlines() == ["1\tzhang.san\tregulator\tregion_code=3701\tactive\t"]
