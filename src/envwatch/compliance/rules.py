"""What a compliance rule is (合规规则): a clause ID, its inputs, its parameters and what it finds.

A rule is a pure judgement over the store at one moment ``at``: ``evaluate(ctx)`` reads what it needs
through ``ctx.conn`` (never writes, never reads a clock) and yields :class:`Found` items, one per situation
that breaks the rule *as of* ``at``. The same store, settings and ``at`` give the same items: the engine
(``compliance.findings``) turns them into stored findings idempotently, keyed by ``(rule, Found.key)``.

**IDs cite their clause.** ``SX-18.3-24H`` is 晋环规〔2024〕2号 art. 18(3), the 24-hour limit; ``WZ-A1-13-72H``
the Wenzhou annex 1 art. 13, 72 hours; ``CS-4.3.3-1H`` the certification spec 4.3.3, one hour. The part
before the last dash is the REQUIREMENTS.md ID (``Rule.requirement``).

**Parameters come from settings.** Each :class:`Param` names its default: an existing settings field
(``setting="om_inspection_every_days"``), so that a threshold shared with the O&M pages is one number, or a
literal default. A province overrides any of them, or switches a rule off, without code:

- ``ENVWATCH_COMPLIANCE_PARAMS='{"SX-20.3-7D": {"days": 10}}'``
- ``ENVWATCH_COMPLIANCE_RULES_OFF='["SX-29-SIM"]'``

An override is converted to the default's type (int, float, Decimal, str, bool) and refused with a clear
error when it does not fit (:class:`ParamError`); an override of a parameter the rule does not have is an
error too, so a typo cannot silently leave the default in force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from sqlalchemy import Connection, Engine

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.core.workdays import WorkdayCalendar

Window = tuple[datetime, datetime]  # [start, end) in UTC
SubjectKind = Literal["enterprise", "outlet", "device", "operator", "agency"]
SUBJECT_KINDS: Final = ("enterprise", "outlet", "device", "operator", "agency")
Severity = Literal["violation", "warning"]

# What an evidence link may point at; the pages turn (kind, ref) into a link (web.pages.findings_view).
LINK_KINDS: Final = (
    "device",
    "outlet",
    "enterprise",
    "operator",
    "agency",
    "fault",
    "alarm",
    "mark",
    "record",  # field_records (O&M record)
    "ticket",
    "stop",  # production_stops
    "filing",
    "material",  # reference_materials
    "equipment",  # the instrument file (一机一档)
    "staff",
    "certificate",
    "training",
    "drill",
    "plan",  # emergency_plans
    "video",
    "sample",
    "sampling_plan",
    "self_inspection_report",
    "manual_result",
    "rate",  # ref: "device:<mn>:<first>..<last>" (the rates page)
    "audit_day",
)


class ParamError(InvalidInput):
    """A rule parameter override that does not fit (wrong rule, unknown name, wrong type)."""


@dataclass(frozen=True, slots=True)
class Link:
    """One thing a finding rests on: ``kind`` from :data:`LINK_KINDS`, ``ref`` its id (as text)."""

    kind: str
    ref: str
    label: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "ref": self.ref, "label": self.label}


@dataclass(frozen=True, slots=True)
class Found:
    """One situation that breaks a rule as of ``at``.

    ``key`` identifies the situation within the rule across runs: the same fault, the same device and
    quarter, the same overdue inspection interval (e.g. ``"device:12:since:2026-11-02"``). Keep it free of
    anything that changes while the situation lasts (hours elapsed, counts), or each run opens a new
    finding. ``message`` is one English sentence with the Chinese term in brackets and the figures that
    decide it, like the rest of the platform's rule texts."""

    key: str
    subject_kind: SubjectKind
    subject_id: int
    message: str
    period_start: datetime | None = None
    period_end: datetime | None = None
    enterprise_id: int | None = None
    outlet_id: int | None = None
    device_id: int | None = None
    operator_id: int | None = None
    agency_id: int | None = None
    evidence: tuple[Link, ...] = ()
    severity: Severity = "violation"


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its default is the settings field ``setting`` when given, else ``default``."""

    name: str
    description: str
    default: Any = None
    setting: str | None = None

    def default_value(self, settings: Settings) -> Any:
        return getattr(settings, self.setting) if self.setting else self.default


@dataclass(frozen=True)
class RuleContext:
    """What a rule evaluates against: one connection (read only), the settings, the moment judged, the
    working-day calendar and the rule's resolved parameters. ``engine`` is for services that take one
    (``monitoring.rates.compute_rates`` refreshes its day counts in transactions of its own); a rule
    never writes through it."""

    conn: Connection
    engine: Engine
    settings: Settings
    at: datetime
    calendar: WorkdayCalendar
    params: Mapping[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.params[name]


@dataclass(frozen=True)
class Rule:
    """One rule of a rule pack.

    ``id`` cites the clause (module docstring), ``requirement`` the REQUIREMENTS.md line; ``title``/``title_zh`` name the duty; ``inputs`` says in
    a few words what data it reads (shown on the rule list); ``subject`` is the kind of thing it judges."""

    id: str
    requirement: str  # the REQUIREMENTS.md ID it implements (SX-18.3, CS-4.3.3, WZ-A1-13 …)
    title: str
    title_zh: str
    subject: SubjectKind
    inputs: str
    evaluate: Callable[[RuleContext], Iterable[Found]]
    params: tuple[Param, ...] = ()
    # The span of time the rule looks at, when it does not look at everything: the last complete quarter,
    # a lookback of N days. A stored finding whose period lies outside it is left as it is by a run (the
    # rule did not look there, so not finding it again proves nothing); None: every finding is in view.
    judges: Callable[[RuleContext], Window] | None = None
    pack: str = ""  # filled by the pack registry (compliance.packs)

    def resolved_params(self, settings: Settings) -> dict[str, Any]:
        overrides = dict(settings.compliance_params.get(self.id, {}))
        known = {p.name for p in self.params}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ParamError(
                f"ENVWATCH_COMPLIANCE_PARAMS: rule {self.id} has no parameter {', '.join(unknown)} "
                f"(it has: {', '.join(sorted(known)) or 'none'})"
            )
        values: dict[str, Any] = {}
        for p in self.params:
            default = p.default_value(settings)
            values[p.name] = (
                _coerce(self.id, p.name, overrides[p.name], default) if p.name in overrides else default
            )
        return values

    def enabled(self, settings: Settings) -> bool:
        return self.id not in settings.compliance_rules_off


def _coerce(rule: str, name: str, value: Any, default: Any) -> Any:
    """The override as the default's type; a clear error when it is not one."""
    what = f"ENVWATCH_COMPLIANCE_PARAMS: {rule}.{name} = {value!r}"
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            raise ValueError
        if isinstance(default, int):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if isinstance(default, Decimal):
            if isinstance(value, bool):
                raise ValueError
            return Decimal(str(value))
        if isinstance(default, str):
            if not isinstance(value, str):
                raise ValueError
            return value
        if isinstance(default, list | tuple):
            if not isinstance(value, list):
                raise ValueError
            return type(default)(value)
    except (ValueError, TypeError, InvalidOperation):
        raise ParamError(f"{what} is not a {type(default).__name__} like the default {default!r}") from None
    return value


@dataclass(frozen=True)
class RuleSet:
    """The rules of every pack, by ID, in pack order."""

    rules: Mapping[str, Rule] = field(default_factory=dict)

    def get(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise InvalidInput(
                f"no compliance rule {rule_id!r}; `envwatch compliance rules` lists them"
            ) from None

    def __iter__(self) -> Any:
        return iter(self.rules.values())

    def __len__(self) -> int:
        return len(self.rules)

    def check_settings(self, settings: Settings) -> None:
        """Refuse overrides or switches naming no rule (a typo must not pass silently)."""
        for rule_id in list(settings.compliance_params) + list(settings.compliance_rules_off):
            if rule_id not in self.rules:
                raise ParamError(
                    f"compliance settings name rule {rule_id!r}, which does not exist; "
                    "`envwatch compliance rules` lists them"
                )
        for rule in self.rules.values():
            rule.resolved_params(settings)


def build_rule_set(packs: Iterable[tuple[str, Iterable[Rule]]]) -> RuleSet:
    """One :class:`RuleSet` from ``(pack name, rules)`` pairs; a duplicate ID is a programming error."""
    rules: dict[str, Rule] = {}
    for pack, pack_rules in packs:
        for rule in pack_rules:
            if rule.id in rules:
                raise ValueError(f"rule {rule.id} is defined twice ({rules[rule.id].pack} and {pack})")
            rules[rule.id] = Rule(
                id=rule.id,
                requirement=rule.requirement,
                title=rule.title,
                title_zh=rule.title_zh,
                subject=rule.subject,
                inputs=rule.inputs,
                evaluate=rule.evaluate,
                params=rule.params,
                judges=rule.judges,
                pack=pack,
            )
    return RuleSet(rules)


# --- the spans rules judge (China calendar) -------------------------------------------------------------
def china_midnight(day: date) -> datetime:
    """00:00 China time of ``day``, as an aware datetime."""
    return datetime.combine(day, time(0), CHINA_TZ)


def quarter_before(at: datetime) -> tuple[date, date]:
    """The last complete China calendar quarter before ``at``: (first day, last day)."""
    today = to_china(at).date()
    first_this = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last = first_this - timedelta(days=1)
    return date(last.year, 3 * ((last.month - 1) // 3) + 1, 1), last


def month_before(at: datetime) -> tuple[date, date]:
    """The last complete China calendar month before ``at``: (first day, last day)."""
    last = to_china(at).date().replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def days_window(first: date, last: date) -> Window:
    """China days first..last (both included) as a [start, end) span."""
    return china_midnight(first), china_midnight(last + timedelta(days=1))


def last_quarter(ctx: RuleContext) -> Window:
    """``Rule.judges`` for rules that judge the last complete quarter."""
    return days_window(*quarter_before(ctx.at))


def last_month(ctx: RuleContext) -> Window:
    """``Rule.judges`` for rules that judge the last complete month."""
    return days_window(*month_before(ctx.at))


def lookback(param: str) -> Callable[[RuleContext], Window]:
    """``Rule.judges`` for rules that look back ``ctx[param]`` days from ``at``."""

    def window(ctx: RuleContext) -> Window:
        return ctx.at - timedelta(days=float(ctx[param])), ctx.at

    return window
