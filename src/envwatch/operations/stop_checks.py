"""The SX-18.4 checks of a production stop (停产): the quarter note for gas outlets and the calibration after
the restart. Read by :func:`envwatch.operations.production_stops.stop_view`.

- SX-18.4 "gas devices keep running for stops of at most one quarter": a quarter is taken as three calendar
  months from the planned start, China time (the 31st of a month becomes the last day of a shorter one); a
  stop ending exactly then is still "at most one quarter".
- SX-18.4 "start the device first, calibrate, check within 2 weeks": per device of the outlet, the earliest
  calibration field record (``field_records`` kind ``calibration``, the latest version of each record: a
  corrected record counts by its correction) within [restart, restart + ``om_restart_check_within_days``].
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, exists, func, select

from envwatch.core.clock import to_china
from envwatch.operations.records_schema import field_records

QUARTER_MONTHS: Final = 3  # SX-18.4: gas devices keep running for stops of at most one quarter


def add_months(moment: datetime, months: int) -> datetime:
    """The same China wall-clock time ``months`` calendar months later (the 31st → the month's last day)."""
    local = to_china(moment)
    month0 = local.month - 1 + months
    year, month = local.year + month0 // 12, month0 % 12 + 1
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=local.tzinfo)
    last_day = (following - timedelta(days=1)).day
    return local.replace(year=year, month=month, day=min(local.day, last_day))


def quarter_note(stop: Mapping[str, Any]) -> str | None:
    """SX-18.4 for a gas outlet: ``gas_keep_running`` (a stop of at most one quarter: the gas devices keep
    running) or ``gas_may_stop`` (longer: they need not); None for water."""
    if stop["outlet_kind"] != "gas":
        return None
    longer = stop["end_at"] > add_months(stop["start_at"], QUARTER_MONTHS)
    return "gas_may_stop" if longer else "gas_keep_running"


def _calibrations(
    conn: Connection, device_ids: list[int], first: datetime, last: datetime
) -> dict[int, datetime]:
    """The earliest calibration (latest record version) per device within [first, last]."""
    if not device_ids:
        return {}
    r = field_records.c
    later = field_records.alias("later")
    query = (
        select(r.device_id, func.min(r.performed_at))
        .where(
            r.kind == "calibration",
            r.device_id.in_(device_ids),
            r.performed_at >= first,
            r.performed_at <= last,
            ~exists().where(later.c.supersedes_id == r.id),
        )
        .group_by(r.device_id)
    )
    return {int(d): at for d, at in conn.execute(query)}


def restart_check(
    conn: Connection, stop: Mapping[str, Any], devs: list[dict[str, Any]], now: datetime, within: timedelta
) -> dict[str, Any] | None:
    """SX-18.4 after a restart: a calibration on every device of the outlet within ``within`` of it.
    ``state``: met (every device calibrated), running (not yet, time left), overdue; None before a restart."""
    at = stop["restarted_at"]
    if at is None:
        return None
    due = at + within
    found = _calibrations(conn, [d["id"] for d in devs], at, due)
    per_device = [{**d, "calibrated_at": found.get(d["id"])} for d in devs]
    if all(d["calibrated_at"] is not None for d in per_device):
        state = "met"
    else:
        state = "running" if now <= due else "overdue"
    return {"due_at": due, "state": state, "devices": per_device}
