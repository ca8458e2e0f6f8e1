"""A value against a limit row (outlet_view.limit_state): hour and day limits, the pH range, no limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from envwatch.web.pages.outlet_view import limit_state

GAS: dict[str, Any] = {
    "hour_limit": Decimal("35"),
    "day_limit": Decimal("30"),
    "ph_low": None,
    "ph_high": None,
}
PH: dict[str, Any] = {"hour_limit": None, "day_limit": None, "ph_low": Decimal("6"), "ph_high": Decimal("9")}


@pytest.mark.parametrize(
    ("value", "limit", "which", "state"),
    [
        (Decimal("35"), GAS, "hour", "within"),  # at the limit is not above it
        (Decimal("35.01"), GAS, "hour", "over"),
        ("32.5", GAS, "day", "over"),  # explained day values come as exact strings
        ("32.5", GAS, "hour", "within"),
        (Decimal("5.9"), PH, "hour", "over"),
        ("9.5", PH, "day", "over"),
        (Decimal("7"), PH, "hour", "within"),
        (None, GAS, "hour", "none"),
        (Decimal("99"), None, "hour", "none"),
        (Decimal("99"), {**GAS, "day_limit": None}, "day", "none"),
    ],
)
def test_limit_state(value: Any, limit: dict[str, Any] | None, which: str, state: str) -> None:
    assert limit_state(value, limit, which) == state
