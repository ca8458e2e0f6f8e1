"""Rule pack ``filings`` (see ``compliance.packs``): not written yet."""

from __future__ import annotations

from envwatch.compliance.rules import Rule

RULES: tuple[Rule, ...] = ()
