"""From an HJ 212 data packet to a measurement record, and from stored records to per-factor values.

A data packet (CN 2011 real-time, 2051 minute, 2061 hour, 2031 day) carries one DataTime and one group of
fields per factor (``a21026-Rtd=12.3,a21026-Flag=N``). It is stored as one record keyed by
(device, kind, DataTime): the key that makes re-sent and back-filled data idempotent. Readers and the
rules work per factor (:func:`factor_values`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from envwatch.core.clock import parse_device_time
from envwatch.core.db import exact_text
from envwatch.monitoring.schema import KIND_BY_CN, VALUE_FIELD

Factors = Mapping[str, Mapping[str, str]]

# Factor codes are 6 characters in 2017 (a21026), 3 in 2005 (011, B02); vendors add their own. The bound
# keeps codes sane, so a strange code becomes a clear verdict on its packet instead of odd data.
_FACTOR_CODE = re.compile(r"^[A-Za-z0-9_.]{1,32}$")
_MAX_FLAG = 8
# codes that passed the check: a fleet uses a few dozen, and the writer checks every factor of every
# packet (a set lookup instead of a regex); bounded, so that odd codes cannot grow it without end
_GOOD_CODES: set[str] = set()
_GOOD_CODES_MAX = 10_000


class BadDataPacket(ValueError):
    """A data packet whose content cannot become measurements (no or bad DataTime, odd factor codes)."""


class MeasurementRecord(NamedTuple):
    """The content of one data packet, checked and keyed. A NamedTuple: thousands per second."""

    device_id: int
    kind: str  # rtd | minute | hour | day
    data_time: datetime  # aware UTC
    factors: Factors  # {code: {field: exact text}} as sent
    backfill: bool


class FactorValue(NamedTuple):
    """One factor of a record, as readers and the rules see it."""

    factor: str
    value: str | None  # the main value (Rtd or Avg) as sent when it is a decimal number, else None
    flag: str | None
    fields: Mapping[str, str]


def measurement_kind(cn: str | None) -> str | None:
    return KIND_BY_CN.get(cn or "")


def record_from_packet(
    *,
    device_id: int,
    cn: str,
    cp: Mapping[str, str],
    factors: Factors,
    backfill: bool,
) -> MeasurementRecord:
    kind = KIND_BY_CN[cn]
    stamp = cp.get("DataTime")
    if stamp is None:
        raise BadDataPacket(f"CN {cn} data packet without DataTime")
    try:
        data_time = parse_device_time(stamp)
    except ValueError as exc:
        raise BadDataPacket(f"bad DataTime: {exc}") from exc
    for code, fields in factors.items():
        if code not in _GOOD_CODES:
            if not _FACTOR_CODE.match(code):
                raise BadDataPacket(f"factor code {code[:40]!r} is not 1-32 letters/digits")
            if len(_GOOD_CODES) < _GOOD_CODES_MAX:
                _GOOD_CODES.add(code)
        flag = fields.get("Flag")
        if flag is not None and len(flag) > _MAX_FLAG:
            raise BadDataPacket(f"{code}-Flag longer than {_MAX_FLAG} characters")
    # the packet's own dicts: nothing mutates them
    return MeasurementRecord(device_id, kind, data_time, factors, backfill)


def factor_values(kind: str, factors: Factors) -> list[FactorValue]:
    """The factors of a record in code order, with the main value picked out."""
    value_field = VALUE_FIELD[kind]
    return [
        FactorValue(code, exact_text(fields.get(value_field)), fields.get("Flag"), fields)
        for code, fields in sorted(factors.items())
    ]
