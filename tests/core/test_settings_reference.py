"""docs/configuration.md is what ``envwatch settings reference`` generates from the Settings class now."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.settings import Settings
from envwatch.core.settings_reference import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_reference_matches_the_code() -> None:
    assert DOC.read_text(encoding="utf-8") == reference(), (
        "docs/configuration.md lags the Settings class: run "
        "`envwatch settings reference --output docs/configuration.md` and commit it"
    )


def test_every_field_has_its_row_with_variable_type_and_default() -> None:
    text = reference()
    for name in Settings.model_fields:
        assert f"| `{name}` | `ENVWATCH_{name.upper()}` |" in text
    assert "| `log_format` | `ENVWATCH_LOG_FORMAT` | Literal['text', 'json'] | `text` |" in text
    assert "| `max_connections` | `ENVWATCH_MAX_CONNECTIONS` | int (≥ 1) | `5000` |" in text


def test_the_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    result = CliRunner().invoke(app, ["settings", "reference", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == reference()
