"""The QA criteria field records are judged by (质控指标), as data: ``operations/data/qa_limits.json``.

Three tables, keyed by HJ 212 factor code (a21026 SO2, w01018 CODcr, ...):

- ``calibration`` (校准, HJ 75-2017 §11): the zero and span drift allowed, in % of full scale, and the
  drift beyond which the factor is out of control (失控, SX-20.8);
- ``standard_check`` (标样核查, HJ 355-2019 §8): the relative error allowed, in %;
- ``comparison`` (比对监测, HJ 75-2017 §9.3, HJ 355-2019 Table 1): the least number of data pairs and the
  bands of the criterion, chosen by the reference value: highest band first, each with an inclusive
  (``from``) or exclusive (``above``) lower bound, the last one without; its criterion is an
  ``absolute`` error (in the factor's unit), a ``relative`` error (% of the reference value) or a
  ``relative_accuracy`` (相对准确度, %, over the pairs of that band).

A province changes any of it with the ``om_qa_limits`` setting (``ENVWATCH_OM_QA_LIMITS``): JSON merged
over the file, object by object (a factor given there replaces only the fields it names; ``null`` removes
an entry). Bad JSON, or values that do not fit, are refused with a message naming the setting; the web app
checks it at start-up (``web.api.om_records``), every record checks it again.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings

DATA_FILE = Path(__file__).resolve().parent / "data" / "qa_limits.json"
SETTING = "ENVWATCH_OM_QA_LIMITS"

Criterion = Literal["absolute", "relative", "relative_accuracy"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CalibrationLimit(_Frozen):
    """Zero and span drift of one factor, % F.S.: within ``*_drift_max`` passes; beyond
    ``*_out_of_control`` the factor is out of control (失控)."""

    zero_drift_max: Decimal = Field(gt=0)
    span_drift_max: Decimal = Field(gt=0)
    zero_out_of_control: Decimal = Field(gt=0)
    span_out_of_control: Decimal = Field(gt=0)
    source: str

    @model_validator(mode="after")
    def _control_beyond_criterion(self) -> CalibrationLimit:
        if self.zero_out_of_control < self.zero_drift_max or self.span_out_of_control < self.span_drift_max:
            raise ValueError("a loss-of-control threshold must not be below its drift criterion")
        return self


class StandardCheckLimit(_Frozen):
    relative_error_max: Decimal = Field(gt=0, description="%, of the standard's certified value")
    source: str


class Band(_Frozen):
    """One band of a comparison criterion; it applies when the reference value is ``>= from_`` (or
    ``> above``); a band with neither is the lowest."""

    from_: Decimal | None = Field(default=None, alias="from")
    above: Decimal | None = None
    criterion: Criterion
    limit: Decimal = Field(gt=0)

    @model_validator(mode="after")
    def _one_bound(self) -> Band:
        if self.from_ is not None and self.above is not None:
            raise ValueError("a band has a 'from' (inclusive) or an 'above' (exclusive) bound, not both")
        return self

    @property
    def lower(self) -> Decimal | None:
        return self.from_ if self.from_ is not None else self.above

    def holds(self, reference: Decimal) -> bool:
        if self.from_ is not None:
            return reference >= self.from_
        if self.above is not None:
            return reference > self.above
        return True

    def label(self) -> str:
        """The band as people write it: ``≥ 715``, ``> 200``, or ``all`` for the lowest."""
        if self.from_ is not None:
            return f"≥ {self.from_}"
        if self.above is not None:
            return f"> {self.above}"
        return "all"


class ComparisonLimit(_Frozen):
    kind: Literal["gas", "water"]
    unit: str
    min_pairs: int = Field(ge=1)
    bands: tuple[Band, ...] = Field(min_length=1)
    source: str

    @model_validator(mode="after")
    def _ordered(self) -> ComparisonLimit:
        bounds = [b.lower for b in self.bands]
        if bounds[-1] is not None:
            raise ValueError("the last band must have no lower bound (it takes every lower value)")
        if any(b is None for b in bounds[:-1]):
            raise ValueError("only the last band may go without a lower bound")
        upper = [b for b in bounds[:-1] if b is not None]
        if any(a <= b for a, b in itertools.pairwise(upper)):
            raise ValueError("bands must be listed from the highest lower bound down")
        return self

    def band_for(self, reference: Decimal) -> tuple[int, Band]:
        """The band (and its index) a reference value falls in."""
        for index, band in enumerate(self.bands):
            if band.holds(reference):
                return index, band
        raise AssertionError("the last band takes every value")  # pragma: no cover - checked on load


class QaLimits(_Frozen):
    about: str = ""
    calibration: dict[str, CalibrationLimit]
    standard_check: dict[str, StandardCheckLimit]
    comparison: dict[str, ComparisonLimit]


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base``: objects key by key, anything else replaced, ``None`` removes."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _where(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top)"


@lru_cache(maxsize=8)
def load_limits(override: str = "") -> QaLimits:
    """The criteria of the data file with ``override`` (the setting's JSON text) merged over it.

    Raises :class:`InvalidInput` naming the setting for JSON that does not parse, is not an object, or
    gives values that do not fit (with where and why)."""
    base = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    data = base
    if override.strip():
        try:
            over = json.loads(override)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{SETTING} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
            ) from None
        if not isinstance(over, dict):
            raise InvalidInput(f"{SETTING} must be a JSON object like the file {DATA_FILE.name}")
        data = merge(base, over)
    try:
        return QaLimits.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_where(e)}: {e['msg']}" for e in exc.errors(include_url=False))
        origin = f"{SETTING} merged over {DATA_FILE.name}" if override.strip() else DATA_FILE.name
        raise InvalidInput(f"{origin} does not fit: {problems}") from None


def limits_of(settings: Settings) -> QaLimits:
    """The platform's criteria (the file with the ``om_qa_limits`` setting over it)."""
    return load_limits(settings.om_qa_limits)
