"""From an HJ 212 data packet to measurement rows (one per factor).

A data packet (CN 2011 real-time, 2051 minute, 2061 hour, 2031 day) carries one DataTime and one group of
fields per factor (``a21026-Rtd=12.3,a21026-Flag=N``). Each group becomes one row keyed by
(device, kind, DataTime, factor): the key that makes re-sent and back-filled data idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from envwatch.core.clock import parse_device_time
from envwatch.core.db import exact_text
from envwatch.monitoring.schema import KIND_BY_CN, VALUE_FIELD


class MeasurementRow(NamedTuple):
    """One factor of one data packet. A NamedTuple: thousands are built per second on the hot path."""

    device_id: int
    kind: str
    data_time: datetime  # aware UTC
    factor: str
    value: str | None  # the exact decimal text as sent, None when not a number
    flag: str | None
    fields: Mapping[str, str]
    backfill: bool


# Factor codes are 6 characters in 2017 (a21026), 3 in 2005 (011, B02); vendors add their own. The bound
# matches the column, so a strange code becomes a clear verdict on its packet instead of a failed batch.
_FACTOR_CODE = re.compile(r"^[A-Za-z0-9_.]{1,32}$")
_MAX_FLAG = 8


class BadDataPacket(ValueError):
    """A data packet whose content cannot become measurements (no or bad DataTime)."""


def measurement_kind(cn: str | None) -> str | None:
    return KIND_BY_CN.get(cn or "")


def rows_from_packet(
    *,
    device_id: int,
    cn: str,
    cp: Mapping[str, str],
    factors: Mapping[str, Mapping[str, str]],
    backfill: bool,
) -> list[MeasurementRow]:
    kind = KIND_BY_CN[cn]
    stamp = cp.get("DataTime")
    if stamp is None:
        raise BadDataPacket(f"CN {cn} data packet without DataTime")
    try:
        data_time = parse_device_time(stamp)
    except ValueError as exc:
        raise BadDataPacket(f"bad DataTime: {exc}") from exc
    value_field = VALUE_FIELD[kind]
    rows = []
    for code, fields in factors.items():  # one pass, positional tuples: this runs for every data packet
        if not _FACTOR_CODE.match(code):
            raise BadDataPacket(f"factor code {code[:40]!r} is not 1-32 letters/digits")
        flag = fields.get("Flag")
        if flag is not None and len(flag) > _MAX_FLAG:
            raise BadDataPacket(f"{code}-Flag longer than {_MAX_FLAG} characters")
        # fields: the packet's own dict (nothing mutates it)
        rows.append(
            MeasurementRow(
                device_id, kind, data_time, code, exact_text(fields.get(value_field)), flag, fields, backfill
            )
        )
    return rows
