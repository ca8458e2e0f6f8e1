"""Time at the boundary (DESIGN convention 6).

Devices speak Asia/Shanghai local time (HJ 212 DataTime, QN); storage is UTC. The conversion happens
here and only here.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone

# China has had no daylight saving since 1991, so a fixed offset is exact and needs no tz database.
CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=4096)
def parse_device_time(text: str) -> datetime:
    """``YYYYMMDDhhmmss`` (HJ 212 N14) or with milliseconds (17 digits, seen in the field) → aware UTC.

    Raises ValueError with the offending text when it is not such a time. Cached (datetimes are
    immutable): a fleet's loggers send the same DataTime, each minute and each hour, and the writer
    parses one per packet.
    """
    if not (text.isascii() and text.isdigit()) or len(text) not in (14, 17):
        raise ValueError(f"not an HJ 212 time (YYYYMMDDhhmmss[zzz]): {text!r}")
    # slicing by hand: strptime costs ~10 µs and this runs for every data packet
    try:
        local = datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
            int(text[14:17]) * 1000 if len(text) == 17 else 0,
            tzinfo=CHINA_TZ,
        )
    except ValueError as exc:
        raise ValueError(f"not an HJ 212 time (YYYYMMDDhhmmss[zzz]): {text!r}: {exc}") from None
    return local.astimezone(UTC)


def format_device_time(moment: datetime) -> str:
    """Aware datetime → ``YYYYMMDDhhmmss`` in China time, as sent to devices."""
    return moment.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")


def to_china(moment: datetime) -> datetime:
    return moment.astimezone(CHINA_TZ)
