"""What each kind of field record holds (its ``payload``) and how the judged kinds are judged.

Kinds (运维记录类别, SX-18.2): ``inspection`` 巡检 (a checklist), ``calibration`` 校准 (zero and span),
``standard_check`` 标样核查, ``comparison`` 比对监测 (data pairs against a reference method),
``consumable`` 耗材/试剂更换, ``repair`` 维修, ``parameter_change`` 参数变更 and ``waste_liquid`` 废液处置.
One pydantic model per kind checks what people send (:func:`parse_payload`); :func:`judge` gives the
verdict and writes what it computed into the payload, so a record shows exactly what it was judged on:

- inspection: ``fail`` when any checklist item is not ok;
- calibration: zero and span drift in % of full scale, ``(reading − reference) / range_high × 100``;
  ``pass`` when both lie within the factor's criterion; ``out_of_control`` (失控, SX-20.8) when either is
  beyond its loss-of-control threshold;
- standard_check: relative error ``(measured − standard) / standard × 100`` within the criterion;
- comparison: each pair judged in the band its reference value falls in (absolute error, relative error,
  or the relative accuracy of the pairs of that band together, HJ 75-2017 Annex A); ``pass`` when there
  are enough pairs and every pair passes. A failed standard check or comparison is a loss of control too
  (HJ 75-2017 §11, HJ 356-2019 §6: the data since the last good check are invalid).
- the other kinds record what was done: verdict ``none``.

Every computed value is rounded to :data:`PLACES` decimals by GB/T 8170 (round half to even, 四舍六入五成双)
before it is compared, and a value exactly at its limit passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from envwatch.core.errors import InvalidInput
from envwatch.operations.qa_limits import Band, ComparisonLimit, QaLimits

KINDS = (
    "inspection",
    "calibration",
    "standard_check",
    "comparison",
    "consumable",
    "repair",
    "parameter_change",
    "waste_liquid",
)
Kind = Literal[
    "inspection",
    "calibration",
    "standard_check",
    "comparison",
    "consumable",
    "repair",
    "parameter_change",
    "waste_liquid",
]
# kinds measured against a factor's QA criterion (they name a factor and get a pass / fail verdict)
JUDGED_KINDS = frozenset({"calibration", "standard_check", "comparison"})
# kinds that must cite the certified reference materials they used (SX-20.5)
MATERIAL_KINDS = frozenset({"calibration", "standard_check"})
Verdict = Literal["pass", "fail", "none"]
PLACES = Decimal("0.001")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Factor = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][0-9a-z]{5}$")]
Value = Annotated[Decimal, Field(allow_inf_nan=False)]
Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChecklistItem(_Payload):
    item: Name
    ok: bool
    note: Note = ""


class Inspection(_Payload):
    """巡检: the checklist, one line per item looked at."""

    items: list[ChecklistItem] = Field(min_length=1, max_length=100)


class Calibration(_Payload):
    """校准: the zero and span gas (or solution) values and what the analyser read."""

    factor: Factor
    zero_reference: Value = Field(description="零点标准值, usually 0")
    zero_reading: Value = Field(description="零点示值 before adjustment")
    span_reference: Value = Field(description="量程标准值 (the span gas or solution)")
    span_reading: Value = Field(description="量程示值 before adjustment")
    mode: Literal["auto", "manual"] = Field(description="automatic (by the system) or manual calibration")


class StandardCheck(_Payload):
    """标样核查: one standard sample measured by the analyser."""

    factor: Factor
    standard_value: Positive = Field(description="标样标准值 (certified)")
    measured_value: Value = Field(description="仪器测定值")


class Pair(_Payload):
    automatic: Value = Field(description="自动监测值")
    reference: Value = Field(description="参比方法测定值")


class Comparison(_Payload):
    """比对监测: data pairs of the analyser against a reference (manual) method."""

    factor: Factor
    pairs: list[Pair] = Field(min_length=1, max_length=100)
    reference_method: Name = Field(description="参比方法, e.g. HJ 57-2017 定电位电解法")
    reference_agency: Name = Field(description="比对监测单位")


class ConsumableItem(_Payload):
    name: Name
    quantity: Positive
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    lot: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""


class Consumable(_Payload):
    """耗材/试剂更换: what was replaced."""

    items: list[ConsumableItem] = Field(min_length=1, max_length=100)


class Repair(_Payload):
    """维修: which part, what was wrong, what was done, how it ended."""

    part: Name
    symptom: Note = Field(min_length=1)
    action: Note = Field(min_length=1)
    result: Note = Field(min_length=1)


class ParameterChange(_Payload):
    """参数变更 (SX-29: an unfiled change is a fraud indicator): e.g. range, slope, intercept."""

    parameter: Name
    before: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    after: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    reason: Note = Field(min_length=1)
    factor: Factor | None = None


class WasteLiquid(_Payload):
    """废液处置: how much went to whom, under which manifest (转移联单)."""

    volume: Positive
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    handler: Name = Field(description="处置单位")
    manifest_no: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""


MODELS: dict[str, type[_Payload]] = {
    "inspection": Inspection,
    "calibration": Calibration,
    "standard_check": StandardCheck,
    "comparison": Comparison,
    "consumable": Consumable,
    "repair": Repair,
    "parameter_change": ParameterChange,
    "waste_liquid": WasteLiquid,
}


def require_kind(kind: str) -> str:
    if kind not in MODELS:
        raise InvalidInput(f"unknown record kind {kind!r} (kinds: {', '.join(KINDS)})")
    return kind


def parse_payload(kind: str, data: Mapping[str, Any]) -> _Payload:
    """The payload of ``kind`` checked; InvalidInput naming every field that is wrong."""
    model = MODELS[require_kind(kind)]
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise InvalidInput(f"the {kind} record is not complete or not valid: {problems}") from None


def factor_of(payload: _Payload) -> str | None:
    """The factor a payload names (judged kinds, and a parameter change when given)."""
    factor = getattr(payload, "factor", None)
    return None if factor is None else str(factor)


# ---- judging -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    payload: dict[str, Any]  # the input with what was computed, JSON-ready (decimals as strings)
    out_of_control: bool


def rounded(value: Decimal) -> Decimal:
    return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)


def _text(value: Decimal) -> str:
    return format(value, "f")


def _unknown(what: str, factor: str, known: Mapping[str, Any]) -> InvalidInput:
    return InvalidInput(
        f"there is no {what} criterion for factor {factor} (known: {', '.join(sorted(known))}); "
        "a province adds one with ENVWATCH_OM_QA_LIMITS"
    )


def judge(kind: str, payload: _Payload, limits: QaLimits, range_high: Decimal | None = None) -> Judgement:
    """The verdict of a record and its payload with the computed values (module docstring).

    ``range_high`` is the factor's full scale (量程上限, ``device_factors.range_high``), needed for a
    calibration. InvalidInput for a judged kind whose factor has no criterion, a calibration without a
    range, a comparison with fewer pairs than its criterion needs or a relative error on a reference of 0.
    """
    data = payload.model_dump(mode="json")
    if isinstance(payload, Inspection):
        failed = [i.item for i in payload.items if not i.ok]
        data["failed_items"] = failed
        return Judgement("fail" if failed else "pass", data, False)
    if isinstance(payload, Calibration):
        return _calibration(payload, data, limits, range_high)
    if isinstance(payload, StandardCheck):
        return _standard_check(payload, data, limits)
    if isinstance(payload, Comparison):
        return _comparison(payload, data, limits)
    return Judgement("none", data, False)


def _calibration(
    p: Calibration, data: dict[str, Any], limits: QaLimits, range_high: Decimal | None
) -> Judgement:
    limit = limits.calibration.get(p.factor)
    if limit is None:
        raise _unknown("calibration", p.factor, limits.calibration)
    if range_high is None or range_high <= 0:
        raise InvalidInput(
            f"a calibration of {p.factor} is judged in % of full scale: register the range (range_high) "
            "of that factor on the device first"
        )
    zero = rounded((p.zero_reading - p.zero_reference) / range_high * 100)
    span = rounded((p.span_reading - p.span_reference) / range_high * 100)
    passed = abs(zero) <= limit.zero_drift_max and abs(span) <= limit.span_drift_max
    out = abs(zero) > limit.zero_out_of_control or abs(span) > limit.span_out_of_control
    data.update(
        range_high=_text(range_high),
        zero_drift_pct_fs=_text(zero),
        span_drift_pct_fs=_text(span),
        zero_drift_max=_text(limit.zero_drift_max),
        span_drift_max=_text(limit.span_drift_max),
        zero_out_of_control=_text(limit.zero_out_of_control),
        span_out_of_control=_text(limit.span_out_of_control),
        out_of_control=out,
        criterion_source=limit.source,
    )
    return Judgement("pass" if passed else "fail", data, out)


def _standard_check(p: StandardCheck, data: dict[str, Any], limits: QaLimits) -> Judgement:
    limit = limits.standard_check.get(p.factor)
    if limit is None:
        raise _unknown("standard-sample check", p.factor, limits.standard_check)
    error = rounded((p.measured_value - p.standard_value) / p.standard_value * 100)
    passed = abs(error) <= limit.relative_error_max
    data.update(
        relative_error_pct=_text(error),
        relative_error_max=_text(limit.relative_error_max),
        out_of_control=not passed,
        criterion_source=limit.source,
    )
    return Judgement("pass" if passed else "fail", data, not passed)


# t(0.975, f): the two-sided 95 % Student t of the confidence coefficient (HJ 75-2017 Annex A); degrees of
# freedom not listed take the next lower ones listed (a larger t: the stricter side)
T_975 = {
    1: Decimal("12.706"), 2: Decimal("4.303"), 3: Decimal("3.182"), 4: Decimal("2.776"),
    5: Decimal("2.571"), 6: Decimal("2.447"), 7: Decimal("2.365"), 8: Decimal("2.306"),
    9: Decimal("2.262"), 10: Decimal("2.228"), 11: Decimal("2.201"), 12: Decimal("2.179"),
    13: Decimal("2.160"), 14: Decimal("2.145"), 15: Decimal("2.131"), 16: Decimal("2.120"),
    17: Decimal("2.110"), 18: Decimal("2.101"), 19: Decimal("2.093"), 20: Decimal("2.086"),
    21: Decimal("2.080"), 22: Decimal("2.074"), 23: Decimal("2.069"), 24: Decimal("2.064"),
    25: Decimal("2.060"), 26: Decimal("2.056"), 27: Decimal("2.052"), 28: Decimal("2.048"),
    29: Decimal("2.045"), 30: Decimal("2.042"), 40: Decimal("2.021"), 60: Decimal("2.000"),
    120: Decimal("1.980"),
}  # fmt: skip


def t_975(freedom: int) -> Decimal:
    return T_975[max(f for f in T_975 if f <= freedom)]


def relative_accuracy(pairs: list[Pair]) -> Decimal:
    """相对准确度 RA = (|d̄| + |cc|) / RM̄ × 100, d = automatic − reference, cc = t(0.975, n−1)·Sd/√n
    (HJ 75-2017 Annex A); one pair has no spread (cc = 0). InvalidInput when the mean reference is not
    above 0."""
    n = len(pairs)
    mean_ref = sum((p.reference for p in pairs), Decimal(0)) / n
    if mean_ref <= 0:
        raise InvalidInput("a relative accuracy needs reference values above 0")
    diffs = [p.automatic - p.reference for p in pairs]
    mean_d = sum(diffs, Decimal(0)) / n
    cc = Decimal(0)
    if n > 1:
        sd = (sum(((d - mean_d) ** 2 for d in diffs), Decimal(0)) / (n - 1)).sqrt()
        cc = t_975(n - 1) * sd / Decimal(n).sqrt()
    return rounded((abs(mean_d) + abs(cc)) / mean_ref * 100)


def _pair_error(pair: Pair, band: Band, factor: str) -> Decimal:
    difference = pair.automatic - pair.reference
    if band.criterion == "absolute":
        return rounded(abs(difference))
    if pair.reference <= 0:
        raise InvalidInput(
            f"the {factor} pair with reference value {_text(pair.reference)} falls in a band judged by "
            "relative error, which needs a reference above 0"
        )
    return rounded(abs(difference) / pair.reference * 100)


def _comparison(p: Comparison, data: dict[str, Any], limits: QaLimits) -> Judgement:
    limit: ComparisonLimit | None = limits.comparison.get(p.factor)
    if limit is None:
        raise _unknown("comparison", p.factor, limits.comparison)
    if len(p.pairs) < limit.min_pairs:
        raise InvalidInput(
            f"a comparison of {p.factor} needs at least {limit.min_pairs} data pairs, not {len(p.pairs)}"
        )
    placed = [(pair, *limit.band_for(pair.reference)) for pair in p.pairs]
    # relative accuracy is a property of the pairs of a band together, not of one pair
    ra: dict[int, Decimal] = {}
    for index, band in enumerate(limit.bands):
        if band.criterion == "relative_accuracy":
            group = [pair for pair, i, _b in placed if i == index]
            if group:
                ra[index] = relative_accuracy(group)
    judged = []
    for pair, index, band in placed:
        value = ra[index] if band.criterion == "relative_accuracy" else _pair_error(pair, band, p.factor)
        judged.append(
            {
                "automatic": _text(pair.automatic),
                "reference": _text(pair.reference),
                "band": band.label(),
                "criterion": band.criterion,
                "limit": _text(band.limit),
                "value": _text(value),
                "pass": value <= band.limit,
            }
        )
    passed = all(j["pass"] for j in judged)
    data.update(
        pairs=judged,
        unit=limit.unit,
        min_pairs=limit.min_pairs,
        failed_pairs=sum(1 for j in judged if not j["pass"]),
        out_of_control=not passed,
        criterion_source=limit.source,
    )
    return Judgement("pass" if passed else "fail", data, not passed)
