"""The configuration reference (docs/configuration.md), generated from :class:`Settings` so it cannot lag.

``envwatch settings reference --output docs/configuration.md`` writes it; a test fails when the committed
file differs from what the code generates (tests/core/test_settings_reference.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from envwatch.core.settings import Settings

HEADER = """# Configuration reference

Generated from `envwatch.core.settings.Settings` by `envwatch settings reference --output
docs/configuration.md`: do not edit by hand (a test fails when this file lags the code). Every field is an
environment variable (or a line of `.env` in the working directory); list and mapping values are JSON,
e.g. `ENVWATCH_INVALID_FLAGS_GAS='["C","M","D","F","B"]'`. The groups and what they are for:
[operations.md](operations.md#settings).

| field | environment variable | type | default | description |
|---|---|---|---|---|
"""


def _type_name(info: FieldInfo) -> str:
    annotation: Any = info.annotation
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    text = (
        text.replace("typing.", "").replace("pathlib.", "").replace("datetime.", "").replace("decimal.", "")
    )
    limits = []
    for item in info.metadata:
        for bound, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, bound, None)
            if value is not None:
                limits.append(f"{sign} {value}")
    return text + (f" ({', '.join(limits)})" if limits else "")


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if value is None:
        return "(unset)"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return f"`{value}`" if value else '""'
    return f"`{json.dumps(value, default=str, ensure_ascii=False)}`"


def _cell(text: str) -> str:
    # "<data_dir>" would be read as an HTML tag by Markdown renderers
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def reference() -> str:
    """The Markdown reference: one row per field, in the order of the class."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    rows = []
    for name, info in Settings.model_fields.items():
        rows.append(
            "| "
            + " | ".join(
                (
                    f"`{name}`",
                    f"`{prefix}{name.upper()}`",
                    _cell(_type_name(info)),
                    _cell(_default(info)),
                    _cell(info.description or ""),
                )
            )
            + " |"
        )
    return HEADER + "\n".join(rows) + "\n"
