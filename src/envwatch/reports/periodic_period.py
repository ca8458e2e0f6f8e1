"""Report periods and scopes of the periodic reports (定期报告: 日报 / 月报 / 季报 / 年报; issue 9).

A period is a China calendar day, month, quarter or year: [00:00 China time of its first day, 24:00 of its
last day), stored as UTC instants. :func:`parse_period` reads what people type (``2026-10-05``, ``2026-10``,
``2026Q3``, ``2026``) for a kind and says exactly what is wrong otherwise. A period that has not begun is
refused (:func:`check_begun`); one that has begun but not ended may be reported "to date" (截至目前).

A scope is whom a report covers: ``all`` (the whole platform), a ``region`` (行政区划 code prefix, 2/4/6
digits, a code ending in 00 naming the province or city itself), an ``enterprise`` or an ``operator`` (ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal, cast

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import InvalidInput
from envwatch.registry.service import region_prefix
from envwatch.reports.quarters import FIRST_YEAR, LAST_YEAR

PeriodKind = Literal["day", "month", "quarter", "year"]
PERIOD_KINDS: Final[tuple[PeriodKind, ...]] = ("day", "month", "quarter", "year")
KIND_ZH: Final = {"day": "日报", "month": "月报", "quarter": "季报", "year": "年报"}
KIND_EN: Final = {"day": "daily", "month": "monthly", "quarter": "quarterly", "year": "yearly"}
EXAMPLES: Final = {"day": "2026-10-05", "month": "2026-10", "quarter": "2026Q3", "year": "2026"}

ScopeKind = Literal["all", "region", "enterprise", "operator"]
SCOPE_KINDS: Final[tuple[ScopeKind, ...]] = ("all", "region", "enterprise", "operator")
SCOPE_REF_MAX: Final = 20  # report_files.scope_ref

_PATTERNS: Final = {
    "day": re.compile(r"(\d{4})-(\d{2})-(\d{2})"),
    "month": re.compile(r"(\d{4})-(\d{2})"),
    "quarter": re.compile(r"(\d{4})-?[Qq]([1-4])"),
    "year": re.compile(r"(\d{4})"),
}


def _china_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).astimezone(UTC)


def _month_after(first: date, months: int) -> date:
    month = first.month - 1 + months
    return date(first.year + month // 12, month % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """One report period (China calendar days ``first_day``..``last_day``, both included)."""

    kind: PeriodKind
    first_day: date
    last_day: date

    @property
    def label(self) -> str:
        """What :func:`parse_period` reads back: 2026-10-05, 2026-10, 2026Q3, 2026."""
        f = self.first_day
        if self.kind == "day":
            return f.isoformat()
        if self.kind == "month":
            return f"{f:%Y-%m}"
        if self.kind == "quarter":
            return f"{f.year}Q{(f.month - 1) // 3 + 1}"
        return str(f.year)

    @property
    def label_zh(self) -> str:
        f = self.first_day
        if self.kind == "day":
            return f"{f.year}年{f.month}月{f.day}日"
        if self.kind == "month":
            return f"{f.year}年{f.month}月"
        if self.kind == "quarter":
            return f"{f.year}年第{'一二三四'[(f.month - 1) // 3]}季度"
        return f"{f.year}年"

    @property
    def start(self) -> datetime:
        """00:00 China time of the first day, in UTC."""
        return _china_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """24:00 China time of the last day (exclusive), in UTC."""
        return _china_midnight(self.last_day + timedelta(days=1))

    def is_over(self, now: datetime) -> bool:
        return now >= self.end

    def previous(self) -> Period:
        return period_containing(self.kind, self.first_day - timedelta(days=1))


def period_containing(kind: PeriodKind, day: date) -> Period:
    """The period of ``kind`` holding the China day ``day``."""
    if kind == "day":
        return Period(kind, day, day)
    if kind == "month":
        first = day.replace(day=1)
        return Period(kind, first, _month_after(first, 1) - timedelta(days=1))
    if kind == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return Period(kind, first, _month_after(first, 3) - timedelta(days=1))
    return Period(kind, date(day.year, 1, 1), date(day.year, 12, 31))


def last_complete(kind: PeriodKind, now: datetime) -> Period:
    """The latest period of ``kind`` that is over at ``now`` (China calendar)."""
    return period_containing(kind, to_china(now).date()).previous()


def check_kind(kind: str) -> PeriodKind:
    if kind not in PERIOD_KINDS:
        raise InvalidInput(f"period must be one of {', '.join(PERIOD_KINDS)}, not {kind!r}")
    return kind


def parse_period(kind: str, text: str) -> Period:
    """The period of ``kind`` named by ``text`` (see :data:`EXAMPLES`), or InvalidInput saying why not."""
    checked = check_kind(kind)
    text = text.strip()
    found = _PATTERNS[checked].fullmatch(text)
    if found is None:
        raise InvalidInput(
            f"{text!r} does not name a {checked}: write it as {EXAMPLES[checked]} (China calendar)"
        )
    year = int(found.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"year must be within {FIRST_YEAR}..{LAST_YEAR}, not {year}")
    try:
        if checked == "day":
            day = date(year, int(found.group(2)), int(found.group(3)))
        elif checked == "month":
            day = date(year, int(found.group(2)), 1)
        elif checked == "quarter":
            day = date(year, 3 * int(found.group(2)) - 2, 1)
        else:
            day = date(year, 1, 1)
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a real {checked}: {exc}") from None
    return period_containing(checked, day)


def check_begun(period: Period, now: datetime) -> None:
    """InvalidInput for a period that has not begun (nothing to report); a running one is "to date"."""
    if now < period.start:
        raise InvalidInput(
            f"the {period.kind} {period.label} has not begun yet (China calendar): there is nothing to "
            "report; a period that has begun but not ended is reported to date"
        )


@dataclass(frozen=True, slots=True)
class ReportScope:
    """Whom a report covers; ``ref`` is '' (all), a region prefix, or an enterprise / operator id."""

    kind: ScopeKind
    ref: str = ""

    @property
    def ident(self) -> int:
        """The enterprise or operator id."""
        return int(self.ref)

    @property
    def label(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}-{self.ref}"


def report_scope(kind: str, ref: str | int | None) -> ReportScope:
    """A checked scope: a region as its code prefix (``330100`` → ``3301``), ids as positive numbers."""
    if kind not in SCOPE_KINDS:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPE_KINDS)}, not {kind!r}")
    text = "" if ref is None else str(ref).strip()
    if kind == "all":
        if text:
            raise InvalidInput(f"scope all takes no reference, not {text!r}")
        return ReportScope("all")
    if not text:
        raise InvalidInput(f"scope {kind} needs a reference (a region code or an id)")
    if kind == "region":
        return ReportScope("region", region_prefix(text))
    if not (text.isdigit() and text.isascii()) or int(text) < 1 or len(text) > SCOPE_REF_MAX:
        raise InvalidInput(f"the {kind} must be given by its id (a positive number), not {text!r}")
    return ReportScope(cast(ScopeKind, kind), str(int(text)))
