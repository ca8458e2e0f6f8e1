"""Downlink commands as records: what a user may ask a data logger to do, and what happened to it.

A command is created (by the API) as a ``commands`` row plus a ``queued`` event; the gateway that holds
the device's connection sends it and appends events as the exchange proceeds (see ``exchange`` and
``downlink``). The status of a command is its latest event; nothing is updated in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from envwatch.core.clock import format_device_time, parse_device_time, to_china
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.hj212 import new_qn
from envwatch.ingest.exchange import FINAL, QUEUED
from envwatch.ingest.schema import command_events, commands
from envwatch.registry.schema import devices


def _no_params(params: Mapping[str, Any]) -> dict[str, str]:
    if params:
        raise InvalidInput(f"this command takes no parameters, got {sorted(params)}")
    return {}


def _device_time(name: str, value: Any) -> str:
    text = str(value).strip()
    try:
        if text.isdigit():
            return format_device_time(parse_device_time(text))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{name} {text!r} is not a time (YYYYMMDDhhmmss China time, or ISO 8601)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=to_china(datetime.now().astimezone()).tzinfo)  # naive = China time
    return format_device_time(moment)


def _int_in(name: str, lo: int, hi: int) -> Callable[[Mapping[str, Any]], dict[str, str]]:
    def check(params: Mapping[str, Any]) -> dict[str, str]:
        extra = set(params) - {name}
        if extra:
            raise InvalidInput(f"unknown parameter(s) {sorted(extra)}; this command takes {name}")
        try:
            value = int(str(params[name]))
        except (KeyError, ValueError):
            raise InvalidInput(f"{name} is required: a whole number from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise InvalidInput(f"{name} {value} out of range {lo}-{hi} (HJ 212-2017 Table 4)")
        return {name: str(value)}

    return check


def _set_time(params: Mapping[str, Any]) -> dict[str, str]:
    extra = set(params) - {"SystemTime"}
    if extra:
        raise InvalidInput(f"unknown parameter(s) {sorted(extra)}; this command takes SystemTime")
    # without SystemTime the gateway puts in its own clock at the moment of sending
    return {"SystemTime": _device_time("SystemTime", params["SystemTime"])} if "SystemTime" in params else {}


def _time_range(params: Mapping[str, Any]) -> dict[str, str]:
    extra = set(params) - {"BeginTime", "EndTime"}
    if extra or "BeginTime" not in params or "EndTime" not in params:
        raise InvalidInput(
            "history requests take BeginTime and EndTime (YYYYMMDDhhmmss China time, or ISO 8601)"
        )
    begin, end = _device_time("BeginTime", params["BeginTime"]), _device_time("EndTime", params["EndTime"])
    if begin > end:
        raise InvalidInput(f"BeginTime {begin} is after EndTime {end}")
    return {"BeginTime": begin, "EndTime": end}


@dataclass(frozen=True)
class CommandSpec:
    cn: str
    title: str
    check: Callable[[Mapping[str, Any]], dict[str, str]]
    params: tuple[str, ...] = ()  # the CP parameters it takes (a form shows these fields)


_RANGE = ("BeginTime", "EndTime")
SPECS: dict[str, CommandSpec] = {
    s.cn: s
    for s in (
        CommandSpec("1011", "get the data logger's time (提取现场机时间)", _no_params),
        CommandSpec("1012", "set the data logger's time (设置现场机时间)", _set_time, ("SystemTime",)),
        CommandSpec("1061", "get the real-time data interval", _no_params),
        CommandSpec(
            "1062",
            "set the real-time data interval, 30-3600 s",
            _int_in("RtdInterval", 30, 3600),
            ("RtdInterval",),
        ),
        CommandSpec("1063", "get the minute data interval", _no_params),
        CommandSpec(
            "1064", "set the minute data interval, minutes", _int_in("MinInterval", 1, 30), ("MinInterval",)
        ),
        CommandSpec("2051", "request minute data history (补传分钟数据)", _time_range, _RANGE),
        CommandSpec("2061", "request hour data history (补传小时数据)", _time_range, _RANGE),
        CommandSpec("2031", "request day data history (补传日数据)", _time_range, _RANGE),
    )
}


@dataclass(frozen=True)
class CommandView:
    id: int
    mn: str
    cn: str
    qn: str
    params: dict[str, str]
    requested_by: str
    created_at: datetime
    status: str
    events: list[dict[str, Any]]

    @property
    def final(self) -> bool:
        return self.status in FINAL


def create_command(
    engine: Engine, *, mn: str, cn: str, params: Mapping[str, Any], requested_by: str, now: datetime
) -> CommandView:
    spec = SPECS.get(cn)
    if spec is None:
        raise InvalidInput(f"CN {cn} is not a supported command; supported: {', '.join(sorted(SPECS))}")
    checked = spec.check(params)
    with engine.connect() as conn:
        device_id = conn.execute(select(devices.c.id).where(devices.c.mn == mn)).scalar()
    if device_id is None:
        raise NotFound(f"no device with MN {mn}")
    # QN is the request's millisecond timestamp (HJ 212); two commands in one millisecond get the next one.
    for attempt in range(50):
        qn = new_qn(to_china(now + timedelta(milliseconds=attempt)))
        try:
            with engine.begin() as conn:
                command_id = conn.execute(
                    insert(commands).values(
                        device_id=device_id,
                        cn=cn,
                        qn=qn,
                        params=checked,
                        requested_by=requested_by,
                        created_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                conn.execute(
                    insert(command_events).values(
                        command_id=command_id, at=now, event=QUEUED, final=False, detail={"title": spec.title}
                    )
                )
            return get_command(engine, int(command_id))
        except IntegrityError:
            continue
    raise InvalidInput("could not allocate a unique QN for the command; try again")


def get_command(engine: Engine, command_id: int) -> CommandView:
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(commands, devices.c.mn)
                .join(devices, devices.c.id == commands.c.device_id)
                .where(commands.c.id == command_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no command {command_id}")
        events = [
            {
                "at": to_china(e.at).isoformat(),
                "event": e.event,
                "final": e.final,
                "detail": e.detail,
                "packet_id": e.packet_id,
            }
            for e in conn.execute(
                select(command_events)
                .where(command_events.c.command_id == command_id)
                .order_by(command_events.c.id)
            )
        ]
    status = events[-1]["event"] if events else QUEUED
    # the status is the latest *state* event (data events are progress inside "accepted")
    for e in reversed(events):
        if e["event"] != "data":
            status = e["event"]
            break
    return CommandView(
        id=row["id"],
        mn=row["mn"],
        cn=row["cn"],
        qn=row["qn"],
        params=dict(row["params"]),
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        status=status,
        events=events,
    )


def recent_commands(engine: Engine, device_id: int, limit: int = 10) -> list[CommandView]:
    """The device's latest commands, newest first, each with its status (the device page's list)."""
    with engine.connect() as conn:
        ids = conn.execute(
            select(commands.c.id)
            .where(commands.c.device_id == device_id)
            .order_by(commands.c.id.desc())
            .limit(limit)
        ).scalars()
        wanted = list(ids)
    return [get_command(engine, command_id) for command_id in wanted]
