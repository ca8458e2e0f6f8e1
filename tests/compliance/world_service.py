"""Helpers the tests of the service, video and fraud packs share: judge one rule at a moment (with parameter
overrides given through the settings, the way a province gives them) and read the stored findings."""

from __future__ import annotations

from envwatch.compliance.rules import Found
from tests.compliance.judging import judge, with_params
from tests.compliance.judging import stored_rows as stored

__all__ = ["judge", "keys", "stored", "with_params"]


def keys(found: list[Found]) -> list[str]:
    return [f.key for f in found]
