"""Input models of the registry: one model = one row of an import sheet = one API request body.

They know nothing of HTTP or of the database: the API and the xlsx/csv import both validate with them, and
``parse`` turns pydantic's errors into one ``InvalidInput`` whose message names every bad field.
Checks that need the database (duplicate codes, the outlet kind of a limit, a contract's outlet belonging
to its enterprise) are in ``registry.service``.

Exact values (decimals): a value is accepted as a ``Decimal``, an ``int`` or a decimal text ("12.30");
a binary ``float`` is refused, because it has already lost the digits the user wrote (12.30 → 12.3,
0.1 → 0.1000000000000000055…). The API reads JSON numbers straight into ``Decimal`` (``parse_float``),
so ``{"hour_limit": 35.0}`` and ``{"hour_limit": "35.0"}`` both arrive exact; an importer reading
spreadsheet cells must pass the cell text, not a float.

Empty cells: ``None`` and "" mean "not given" for optional values, and "" for optional text.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from envwatch.core.db import exact_text
from envwatch.core.errors import InvalidInput

# GB 32100-2015 统一社会信用代码: 18 characters from a 31-character alphabet (no I, O, Z, S, V, which are
# easily mistaken for 1, 0, 2, 5, U); the 18th is a check character over the first 17.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

ATTENTION_LEVELS = ("national", "provincial", "city", "county", "other")
OUTLET_KINDS = ("gas", "water")
# 服务区域 of an outlet: decides how soon the operator must be on site (CS-4.3.3: 4 h urban, 8 h otherwise)
SERVICE_ZONES = ("urban", "suburban", "remote")
SERVICE_ZONE_LABELS = {"城区": "urban", "郊区": "suburban", "偏远": "remote"}  # as typed in a workbook
# plausible bounds for a site in China (the country spans about 73.5-135.1 E, 3.8-53.6 N)
LONGITUDE_RANGE = (Decimal(73), Decimal(136))
LATITUDE_RANGE = (Decimal(3), Decimal(54))
MAX_DECIMAL_TEXT = 48  # ExactDecimal stores at most 48 characters on SQLite

_REGION = re.compile(r"\d{6}")
_OUTLET_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_FACTOR = re.compile(r"[A-Za-z0-9_.]{1,32}")  # HJ 212 pollutant codes: a21026, w01018, a34013 …
_PHONE = re.compile(r"[0-9+() -]{0,32}")


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character (校验码) for the first 17 characters of a credit code."""
    total = sum(
        CREDIT_CODE_ALPHABET.index(ch) * w for ch, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    check = 31 - total % 31
    return CREDIT_CODE_ALPHABET[0 if check == 31 else check]


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` is not a valid 统一社会信用代码, or None when it is."""
    if len(code) != 18:
        return f"credit code {code!r} must be 18 characters, it has {len(code)}"
    for pos, ch in enumerate(code, start=1):
        if ch not in CREDIT_CODE_ALPHABET:
            return (
                f"credit code {code!r} has {ch!r} at position {pos}: only digits and upper-case letters "
                "except I, O, Z, S, V are used"
            )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        return (
            f"credit code {code!r} fails the GB 32100 check: the 18th character should be {expected!r} "
            f"for the first 17, not {code[17]!r}; look for a mistyped character"
        )
    return None


# ---- field types (before-validators give the specific messages; pydantic then checks the type) ----


def _text(value: Any) -> Any:
    """Sheet cells: empty → "", a number typed into a text column (region code 350100) → its digits."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _exact(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, float):
        raise ValueError(
            f"got the binary float {value!r}, which cannot be kept exact: give the value as decimal text "
            '("12.30") or a JSON number'
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        if len(str(value)) > MAX_DECIMAL_TEXT:
            raise ValueError(f"has more than {MAX_DECIMAL_TEXT} characters")
        return value
    if isinstance(value, str):
        text = exact_text(value)
        if text is None:
            raise ValueError(f"{value!r} is not a decimal number")
        if len(text) > MAX_DECIMAL_TEXT:
            raise ValueError(f"has more than {MAX_DECIMAL_TEXT} characters")
        return Decimal(text)
    raise ValueError(f"must be a decimal number, got {type(value).__name__}")


def _service_zone(value: Any) -> Any:
    """A zone code, or its Chinese label; not given (None, an empty cell or field) means urban."""
    value = _text(value)
    if value == "":
        return "urban"
    if isinstance(value, str):
        value = SERVICE_ZONE_LABELS.get(value, value)
        if value not in SERVICE_ZONES:
            raise ValueError(
                f"{value!r} is not a service zone: give urban (城区), suburban (郊区) or remote (偏远)"
            )
    return value


def _optional_date(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and value.strip() == "") else value


def _credit_code(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    code = value.strip().upper()  # people type lower case; the code itself is upper case only
    problem = credit_code_problem(code)
    if problem:
        raise ValueError(problem)
    return code


def _matching(pattern: re.Pattern[str], what: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        value = _text(value)
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return BeforeValidator(check)


def _sized(max_length: int, *, required: bool = False) -> BeforeValidator:
    """Text of at most ``max_length`` characters (the column width); ``required``: not empty."""

    def check(value: Any) -> Any:
        value = _text(value)
        if isinstance(value, str):
            if required and not value:
                raise ValueError("is empty")
            if len(value) > max_length:
                raise ValueError(f"has {len(value)} characters, at most {max_length} fit")
        return value

    return BeforeValidator(check)


Name = Annotated[str, _sized(200, required=True)]
Unit = Annotated[str, _sized(32)]
Text64 = Annotated[str, _sized(64)]
Text100 = Annotated[str, _sized(100)]
Text300 = Annotated[str, _sized(300)]
ContractNo = Annotated[str, _sized(64, required=True)]
LegalSource = Annotated[str, _sized(300, required=True)]


OptDecimal = Annotated[Decimal | None, BeforeValidator(_exact)]
OptDate = Annotated[date | None, BeforeValidator(_optional_date)]
CreditCode = Annotated[str, BeforeValidator(_credit_code)]
RegionCode = Annotated[str, _matching(_REGION, "a region code (行政区划代码): 6 digits such as 350102")]
OutletCode = Annotated[
    str, _matching(_OUTLET_CODE, "an outlet code: 1-32 letters, digits, _ or - (e.g. DA001, DW001)")
]
FactorCode = Annotated[
    str, _matching(_FACTOR, "a factor code: 1-32 letters, digits, _ or . as in HJ 212 (e.g. a21026)")
]
Phone = Annotated[str, _matching(_PHONE, "a phone number: up to 32 digits, spaces and + ( ) -")]
ServiceZone = Annotated[Literal["urban", "suburban", "remote"], BeforeValidator(_service_zone)]


def _in_range(name: str, value: Decimal | None, bounds: tuple[Decimal, Decimal], what: str) -> None:
    low, high = bounds
    if value is not None and not low <= value <= high:
        raise ValueError(f"{name} {value} is outside {low}..{high} ({what})")


def _check_coordinates(longitude: Decimal | None, latitude: Decimal | None) -> None:
    if (longitude is None) != (latitude is None):
        raise ValueError("give both longitude and latitude, or neither")
    _in_range("longitude", longitude, LONGITUDE_RANGE, "east longitude of a place in China")
    _in_range("latitude", latitude, LATITUDE_RANGE, "north latitude of a place in China")


class _Row(BaseModel):
    # unknown columns are refused: a misspelt column name must not silently drop its values
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnterpriseIn(_Row):
    """排污单位: one polluting enterprise."""

    name: Name
    credit_code: CreditCode
    region_code: RegionCode
    industry: Text100 = ""
    attention_level: Literal["national", "provincial", "city", "county", "other"] = "other"
    address: Text300 = ""
    longitude: OptDecimal = None
    latitude: OptDecimal = None

    @model_validator(mode="after")
    def _coordinates(self) -> EnterpriseIn:
        _check_coordinates(self.longitude, self.latitude)
        return self


class OutletIn(_Row):
    """排放口: a gas or water outlet of an enterprise (the enterprise is given by the caller)."""

    code: OutletCode
    name: Name
    kind: Literal["gas", "water"]
    longitude: OptDecimal = None
    latitude: OptDecimal = None
    permit_number: Text64 = ""  # 排污许可证编号
    service_zone: ServiceZone = "urban"  # 服务区域: the O&M on-site time limit depends on it (CS-4.3.3)

    @model_validator(mode="after")
    def _coordinates(self) -> OutletIn:
        _check_coordinates(self.longitude, self.latitude)
        return self


class DeviceOutletIn(_Row):
    """Where a device (数采仪) sits; model 型号 and serial 出厂编号 are left unchanged when not given."""

    outlet_id: int
    model: Annotated[str | None, _sized(100)] = None
    serial: Annotated[str | None, _sized(100)] = None


class DeviceFactorIn(_Row):
    """A monitored factor of a device: unit, range (量程) and detection limit (检出限)."""

    factor: FactorCode
    unit: Unit = ""
    range_low: OptDecimal = None
    range_high: OptDecimal = None
    detection_limit: OptDecimal = None
    rated: bool = True  # counted in the effective transmission rate (有效传输率); False for O2, flow, T …
    # how a gas concentration is reported: most CEMS send standard-state dry values (标干) already; the
    # others are converted with the same hour's temperature, pressure and moisture (CONV-01)
    basis: Literal["standard_dry", "standard_wet", "actual_wet"] = "standard_dry"

    @model_validator(mode="after")
    def _range(self) -> DeviceFactorIn:
        if self.range_low is not None and self.range_high is not None and self.range_low >= self.range_high:
            raise ValueError(
                f"range_low {self.range_low} must be below range_high {self.range_high} (量程下限 < 量程上限)"
            )
        if self.detection_limit is not None and self.detection_limit < 0:
            raise ValueError(f"detection_limit {self.detection_limit} must not be negative")
        return self


class EmissionLimitIn(_Row):
    """排放限值 of one factor at one outlet from ``valid_from`` (and until ``valid_to``, inclusive)."""

    factor: FactorCode
    hour_limit: OptDecimal = None  # 小时均值限值 (converted to reference O2 for gas)
    day_limit: OptDecimal = None  # 日均值限值
    unit: Unit = ""
    reference_o2: OptDecimal = None  # 基准氧含量 %, gas outlets only (checked by the service)
    ph_low: OptDecimal = None
    ph_high: OptDecimal = None
    valid_from: date
    valid_to: OptDate = None
    legal_source: LegalSource  # e.g. GB 13223-2011 表1

    @model_validator(mode="after")
    def _consistent(self) -> EmissionLimitIn:
        if (
            self.hour_limit is None
            and self.day_limit is None
            and self.ph_low is None
            and self.ph_high is None
        ):
            raise ValueError("give at least one of hour_limit, day_limit or a pH range (ph_low/ph_high)")
        for name in ("hour_limit", "day_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} {value} must be positive")
        for name in ("ph_low", "ph_high"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 14:
                raise ValueError(f"{name} {value} is outside the pH scale 0..14")
        if self.ph_low is not None and self.ph_high is not None and self.ph_low >= self.ph_high:
            raise ValueError(f"ph_low {self.ph_low} must be below ph_high {self.ph_high}")
        if self.reference_o2 is not None and not 0 <= self.reference_o2 < 21:
            raise ValueError(
                f"reference_o2 {self.reference_o2} must be at least 0 and below 21 (% O2; air has 20.9)"
            )
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self


class OperatorIn(_Row):
    """运维单位: a company operating monitoring equipment under contracts."""

    name: Name
    credit_code: CreditCode
    contact: Text100 = ""
    phone: Phone = ""


class ContractIn(_Row):
    """运维合同 of an operator (given by the caller) with an enterprise, or with one of its outlets."""

    enterprise_id: int
    outlet_id: int | None = None  # None: every outlet of the enterprise
    contract_no: ContractNo
    valid_from: date
    valid_to: OptDate = None

    @model_validator(mode="after")
    def _dates(self) -> ContractIn:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self


M = TypeVar("M", bound=BaseModel)


def error_text(exc: ValidationError, where: str = "") -> str:
    """pydantic's errors as one line per problem: ``field: what is wrong``."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"])
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known field"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}{loc}: {msg}" if loc else f"{where}{msg}")
    return "; ".join(lines)


def parse(model: type[M], data: Any, where: str = "") -> M:
    """Validate one row/body; ``where`` prefixes each problem (e.g. "row 7: ")."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}expected an object with the fields of {model.__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(error_text(exc, where)) from None
